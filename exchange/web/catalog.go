package web

import (
	"maps"
	"net/http"
	"slices"
	"sort"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/catalog"
)

type catalogPage struct {
	Services []serviceSummary
}

type serviceSummary struct {
	Name, Title, Description, Certificate string
	Also                                  []string
	SpecialCategory                       bool
	RoutingKey                            string
}

// catalogPage answers GET /catalog: the services a node answers, public.
func (p *Pages) catalogPage(w http.ResponseWriter, r *http.Request) {
	v := p.newView(w, r)
	v.Title = v.T("catalog.title")
	var page catalogPage
	for _, name := range p.cfg.Catalog.ServiceNames() {
		svc, _ := p.cfg.Catalog.Service(name)
		page.Services = append(page.Services, summary(svc))
	}
	v.Data = page
	p.render(w, r, http.StatusOK, "catalog", v)
}

func summary(svc *catalog.Service) serviceSummary {
	return serviceSummary{Name: svc.Name, Title: svc.Title, Description: svc.Description, Certificate: svc.SCSPCertificate,
		Also: svc.SCSPAlsoAnswers, SpecialCategory: svc.SpecialCategory, RoutingKey: svc.RoutingKey}
}

type servicePage struct {
	serviceSummary
	// Purposes are the fields each purpose may see.
	Purposes []purposeFields
	Laws     []catalog.Law
	Sources  []sourceRow
	// Requesters are the organisations and procedures that may ask.
	Requesters []requesterRow
}

type purposeFields struct {
	Code, Name string
	All        bool
	Fields     []string
}

type sourceRow struct{ Scope, Owner string }

type requesterRow struct{ Org, Name, Procedure, ProcedureName string }

// servicePage answers GET /catalog/{service}: what the service answers to
// each purpose, under which laws, from which sources, for whom.
func (p *Pages) servicePage(w http.ResponseWriter, r *http.Request) {
	v := p.newView(w, r)
	svc, ok := p.cfg.Catalog.Service(chi.URLParam(r, "service"))
	if !ok {
		p.notFound(w, r)
		return
	}
	v.Title = svc.Title
	page := servicePage{serviceSummary: summary(svc), Laws: svc.Laws}
	codes := make([]string, 0, len(svc.Purposes))
	for code := range svc.Purposes {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		rule := svc.Purposes[code]
		page.Purposes = append(page.Purposes, purposeFields{Code: code, Name: p.cfg.Catalog.Purposes[code].Title, All: rule.All(), Fields: rule.Fields})
	}
	for _, src := range svc.Sources {
		page.Sources = append(page.Sources, sourceRow{Scope: src.Scope, Owner: p.placeName(svc.RoutingKey, src.Scope)})
	}
	for _, pr := range p.procedures() {
		if slices.Contains(pr.Services, svc.Name) {
			page.Requesters = append(page.Requesters, requesterRow{Org: pr.Org, Name: pr.OrgName, Procedure: pr.Code, ProcedureName: pr.Name})
		}
	}
	v.Data = page
	p.render(w, r, http.StatusOK, "service", v)
}

// procedureRow is one procedure of one requesting organisation of the
// catalog's authorisation matrix.
type procedureRow struct {
	Org, OrgName, Code string
	catalog.Procedure
}

// procedures lists the catalog's authorisation matrix, by organisation
// and procedure code.
func (p *Pages) procedures() []procedureRow {
	var out []procedureRow
	auths := p.cfg.Catalog.Authorisations
	for _, org := range slices.Sorted(maps.Keys(auths)) {
		a := auths[org]
		for _, code := range slices.Sorted(maps.Keys(a.Procedures)) {
			out = append(out, procedureRow{Org: org, OrgName: a.Name, Code: code, Procedure: a.Procedures[code]})
		}
	}
	return out
}
