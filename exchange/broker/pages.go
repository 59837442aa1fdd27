package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/web"
)

// PagesConfig configures the web pages of a production node.
type PagesConfig struct {
	// SessionKey signs the pages' session cookies (at least 32 bytes, the
	// same on every node behind one address). Without one a production
	// node serves no pages; a development node makes one in DataDir.
	SessionKey []byte
	// OIDC, when set, lets people sign in with an OpenID Connect
	// provider (see web.OIDC).
	OIDC *web.OIDC
}

// devPeople are the fixture people a development node's sign-in page
// offers, besides an auditor and each data owner of the catalog: the
// citizens of the reference adapters' test data (plugins/README.md).
var devPeople = []web.DevUser{
	{Principal: auth.Principal{Role: auth.RoleCitizen, Sub: "12345678Z"}, Name: "Anna Puig Soler"},
	{Principal: auth.Principal{Role: auth.RoleCitizen, Sub: "45678901G"}, Name: "Jordi Vidal Roca"},
	{Principal: auth.Principal{Role: auth.RoleCitizen, Sub: "23456789D"}, Name: "Marta Ferrer Coll"},
	{Principal: auth.Principal{Role: auth.RoleCitizen, Sub: "34567890V"}, Name: "Pere Serra Bosch"},
	{Principal: auth.Principal{Role: auth.RoleAuditor, Sub: "dpo-1"}, Name: "Delegada de protecció de dades"},
}

// pages builds the web pages of the node, or nil when it serves none;
// handler is the API's handler, which the pages call in-process once it
// exists.
func (b *Broker) pages(cfg Config, handler *http.Handler) (func(chi.Router), http.Handler, error) {
	key := cfg.Pages.SessionKey
	var people []web.DevUser
	if cfg.DevIssuer != nil {
		var err error
		if key == nil {
			if key, err = devSessionKey(cfg.DataDir); err != nil {
				return nil, nil, err
			}
		}
		people = append(append(people, devPeople...), devOwners(cfg.Catalog)...)
	}
	if key == nil {
		if cfg.Pages.OIDC != nil {
			return nil, nil, errors.New("broker: Pages.OIDC needs Pages.SessionKey")
		}
		return nil, nil, nil
	}
	if cfg.Pages.OIDC != nil {
		if err := cfg.Pages.OIDC.Check(); err != nil {
			return nil, nil, fmt.Errorf("broker: %w", err)
		}
	}
	p, err := web.New(web.Config{
		API:        http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler).ServeHTTP(w, r) }),
		Catalog:    cfg.Catalog,
		SessionKey: key,
		DevUsers:   people,
		OIDC:       cfg.Pages.OIDC,
		LogKey:     cfg.LogVerifier,
		Insecure:   cfg.DevIssuer != nil,
		Logger:     cfg.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("broker: %w", err)
	}
	return p.Routes, http.HandlerFunc(p.NotFound), nil
}

// devOwners are the catalog's data owners, as publishers.
func devOwners(cat *catalog.Catalog) []web.DevUser {
	ids := make([]string, 0, len(cat.Owners))
	for id := range cat.Owners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]web.DevUser, 0, len(ids))
	for _, id := range ids {
		out = append(out, web.DevUser{Principal: auth.Principal{Role: auth.RolePublisher, Owner: id, Sub: "owner-" + id}, Name: cat.Owners[id].Name})
	}
	return out
}

// devSessionKey reads or makes a development node's session key in
// dataDir, so that a sign-in outlives a restart.
func devSessionKey(dataDir string) ([]byte, error) {
	key, err := devFile(dataDir, "session.key", func() ([]byte, error) {
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return key, err
	})
	if err != nil {
		return nil, fmt.Errorf("broker: session key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("broker: session key %s: shorter than 32 bytes", filepath.Join(dataDir, "session.key"))
	}
	return key, nil
}

// devFile answers the content of dataDir/name, a development node's own
// file kept across restarts (a key), which newFile makes and devFile
// writes (0600) on the first start.
func devFile(dataDir, name string, newFile func() ([]byte, error)) ([]byte, error) {
	path := filepath.Join(dataDir, name)
	raw, err := os.ReadFile(path)
	if !errors.Is(err, os.ErrNotExist) {
		return raw, err
	}
	if raw, err = newFile(); err != nil {
		return nil, err
	}
	return raw, os.WriteFile(path, raw, 0o600)
}
