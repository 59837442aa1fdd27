package web

import (
	"net/http"
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
	orgs := make([]string, 0, len(p.cfg.Catalog.Authorisations))
	for org := range p.cfg.Catalog.Authorisations {
		orgs = append(orgs, org)
	}
	sort.Strings(orgs)
	for _, org := range orgs {
		a := p.cfg.Catalog.Authorisations[org]
		for code, pr := range a.Procedures {
			for _, s := range pr.Services {
				if s == svc.Name {
					page.Requesters = append(page.Requesters, requesterRow{Org: org, Name: a.Name, Procedure: code, ProcedureName: pr.Name})
				}
			}
		}
	}
	sort.Slice(page.Requesters, func(i, j int) bool {
		a, b := page.Requesters[i], page.Requesters[j]
		return a.Org < b.Org || a.Org == b.Org && a.Procedure < b.Procedure
	})
	v.Data = page
	p.render(w, r, http.StatusOK, "service", v)
}
