package jobs

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/pontexchange/pont/exchange/store"
)

// SignatureHeader carries a callback's signature: a compact JWS (EdDSA)
// with a detached payload, the request body exactly as sent
// (docs/jobs.md tells a receiver how to check it).
const SignatureHeader = "Pont-Signature"

// SignatureType is the "typ" of a callback's JWS header.
const SignatureType = "pont-callback+jws"

// Notifier posts the notification of a finished job to its callback URL,
// signed with the node's callback key.
type Notifier struct {
	key    ed25519.PrivateKey
	keyID  string
	client *http.Client
}

// NewNotifier signs with key, named keyID in the JWS header and in the
// public key set (PublicKeys).
func NewNotifier(key ed25519.PrivateKey, keyID string) *Notifier {
	return &Notifier{key: key, keyID: keyID, client: &http.Client{
		Timeout: 10 * time.Second,
		// A callback goes where the catalog allows, not where the
		// receiver redirects.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Notification is the body posted to a job's callback URL.
type Notification struct {
	JobID      string         `json:"job_id"`
	Service    string         `json:"service"`
	State      string         `json:"state"` // SCSP 0003: done
	Total      int            `json:"total"`
	Counts     map[string]int `json:"counts"`
	FinishedAt time.Time      `json:"finished_at"`
	// Results is the path of the job's results on the node's API.
	Results string `json:"results"`
}

// Notify posts job's notification; any answer but a 2xx is an error, and
// the queue tries again later.
func (n *Notifier) Notify(ctx context.Context, job store.Job) error {
	body, err := json.Marshal(Notification{
		JobID: job.ID, Service: job.Service, State: StateDone, Total: job.Total, Counts: job.Counts,
		FinishedAt: *job.FinishedAt, Results: "/v1/jobs/" + job.ID,
	})
	if err != nil {
		return err
	}
	sig, err := n.Sign(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("jobs: callback of %s: %w", job.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sig)
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("jobs: callback of %s: %w", job.ID, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("jobs: callback of %s: the receiver answered %s", job.ID, resp.Status)
	}
	return nil
}

// Sign answers the compact JWS, payload detached, of body.
func (n *Notifier) Sign(body []byte) (string, error) {
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, n.keyID)
	_ = h.Set(jws.TypeKey, SignatureType)
	sig, err := jws.Sign(nil, jws.WithKey(jwa.EdDSA, n.key, jws.WithProtectedHeaders(h)), jws.WithDetachedPayload(body))
	if err != nil {
		return "", fmt.Errorf("jobs: sign callback: %w", err)
	}
	return string(sig), nil
}

// PublicKeys answers the JWKS with which receivers check callbacks.
func (n *Notifier) PublicKeys() (jwk.Set, error) {
	k, err := jwk.FromRaw(n.key.Public())
	if err != nil {
		return nil, err
	}
	_ = k.Set(jwk.KeyIDKey, n.keyID)
	_ = k.Set(jwk.AlgorithmKey, jwa.EdDSA)
	_ = k.Set(jwk.KeyUsageKey, "sig")
	set := jwk.NewSet()
	_ = set.AddKey(k)
	return set, nil
}

// VerifyCallback checks a callback's signature header against body with
// the key set a node publishes; it is what a receiver written in Go does.
func VerifyCallback(keys jwk.Set, signature string, body []byte) error {
	if signature == "" {
		return errors.New("no " + SignatureHeader + " header")
	}
	_, err := jws.Verify([]byte(signature), jws.WithKeySet(keys, jws.WithRequireKid(true)), jws.WithDetachedPayload(body))
	return err
}

// States of a job, as SCSP names them.
const (
	StatePending   = "0001"
	StateInProcess = "0002"
	StateDone      = "0003"
)
