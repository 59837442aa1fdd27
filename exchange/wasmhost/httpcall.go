package wasmhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// The error codes of an http_call result.
const (
	codeHostNotAllowed = abi.HTTPHostNotAllowed
	codeTimeout        = abi.HTTPTimeout
	codeTooLarge       = abi.HTTPTooLarge
	codeNetwork        = abi.HTTPNetwork
	codeBadRequest     = abi.HTTPBadRequest
)

// maxRedirects is how many redirects http_call follows, each re-checked.
const maxRedirects = 5

// redirectRefused is the CheckRedirect error for a redirect off the allowed
// hosts; nothing is sent to the redirect's target.
type redirectRefused struct{ origin string }

func (e *redirectRefused) Error() string {
	return "a redirect to " + e.origin + " is not to an allowed host"
}

// newHTTPClient returns a copy of base that re-checks every redirect
// against the adapter's allowed origins: without it an allowed source could
// redirect the broker anywhere (SSRF).
func newHTTPClient(base *http.Client, allowed map[string]bool) *http.Client {
	c := *base
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		o, err := manifest.Origin(req.URL)
		if err != nil || !allowed[o] {
			return &redirectRefused{origin: originOrScheme(req.URL)}
		}
		return nil
	}
	return &c
}

// originOrScheme names where a URL points without its path or query, which
// may hold personal data.
func originOrScheme(u *url.URL) string {
	if o, err := manifest.Origin(u); err == nil {
		return o
	}
	return u.Scheme + "://" + u.Host
}

// errCallStopped is how hostHTTPCall stops a call whose deadline passed
// during the request (ABI.md 4.2): a host function's panic ends the guest's
// call at once, and the call's expired context makes it adapter_timeout.
var errCallStopped = errors.New("http_call: the call's deadline passed during the request; the call is stopped")

// httpCall carries out one http_call and returns its result JSON, or nil
// when the call's deadline passed meanwhile: the caller then stops the call
// instead of handing the guest a result.
func (a *Adapter) httpCall(st *callState, raw []byte) []byte {
	var req abi.HTTPRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		a.refused(st, "", codeBadRequest)
		return httpError(codeBadRequest, "the request is not the ABI's JSON: "+err.Error())
	}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	u, err := url.Parse(req.URL)
	if err != nil || !u.IsAbs() || u.Host == "" {
		a.refused(st, "", codeBadRequest)
		return httpError(codeBadRequest, "the url is not an absolute http(s) URL")
	}
	o, err := manifest.Origin(u)
	if err != nil {
		a.refused(st, u.Scheme+"://"+u.Host, codeHostNotAllowed)
		return httpError(codeHostNotAllowed, err.Error())
	}
	if !a.origins[o] {
		a.refused(st, o, codeHostNotAllowed)
		return httpError(codeHostNotAllowed, o+" is not in the manifest's allowed_hosts")
	}
	var body io.Reader
	if req.Body != nil {
		body = strings.NewReader(*req.Body)
	}
	hr, err := http.NewRequestWithContext(st.ctx, req.Method, u.String(), body)
	if err != nil {
		// Only the method can be wrong here; its text is the guest's.
		a.refused(st, o, codeBadRequest)
		return httpError(codeBadRequest, fmt.Sprintf("the method %q is not valid", req.Method))
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := a.client.Do(hr)
	if err != nil {
		return a.failed(st, o, start, err)
	}
	defer resp.Body.Close()
	limit := a.limits.MaxHTTPResponseBytes
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return a.failed(st, o, start, err)
	}
	if len(data) > limit {
		a.hostLog(st.ctx, slog.LevelWarn, "adapter http_call refused: the response is too large",
			slog.String("transfer_id", st.transferID), slog.String("origin", o), slog.Int("limit_bytes", limit))
		return httpError(codeTooLarge, fmt.Sprintf("the response body exceeds %d bytes", limit))
	}
	a.log.LogAttrs(st.ctx, slog.LevelDebug, "adapter http_call",
		slog.String("transfer_id", st.transferID), slog.String("method", req.Method),
		slog.String("origin", o), slog.Int("status", resp.StatusCode),
		slog.Int("bytes", len(data)), slog.Duration("elapsed", time.Since(start)))
	headers := make(map[string]string, len(resp.Header))
	for k, vs := range resp.Header {
		if len(vs) > 0 {
			headers[k] = vs[0]
		}
	}
	out, err := json.Marshal(abi.NewHTTPResponse(resp.StatusCode, headers, data))
	if err != nil {
		return httpError(codeBadRequest, "encoding the response: "+err.Error())
	}
	return out
}

// failed logs a request that did not complete and returns its result JSON,
// or nil when the call's deadline passed: that stops the call.
func (a *Adapter) failed(st *callState, origin string, start time.Time, err error) []byte {
	if st.ctx.Err() != nil {
		a.hostLog(st.ctx, slog.LevelWarn, "adapter http_call stopped: the call's deadline passed",
			slog.String("transfer_id", st.transferID), slog.String("origin", origin),
			slog.Duration("elapsed", time.Since(start)))
		return nil
	}
	code, msg := classifyHTTPError(err)
	a.hostLog(st.ctx, slog.LevelWarn, "adapter http_call failed",
		slog.String("transfer_id", st.transferID), slog.String("origin", origin),
		slog.String("code", code), slog.Duration("elapsed", time.Since(start)))
	return httpError(code, msg)
}

// refused logs an http_call that the host did not send: the origin only,
// never the path or query, which may hold personal data.
func (a *Adapter) refused(st *callState, origin, code string) {
	a.hostLog(st.ctx, slog.LevelWarn, "adapter http_call refused",
		slog.String("transfer_id", st.transferID), slog.String("origin", origin), slog.String("code", code))
}

// classifyHTTPError names the failure of a request that the call's
// deadline did not cut short.
func classifyHTTPError(err error) (code, msg string) {
	var refused *redirectRefused
	var ne net.Error
	switch {
	case errors.As(err, &refused):
		return codeHostNotAllowed, refused.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return codeTimeout, "the request took longer than the host allows one request (the call still had time)"
	default:
		// The error text names the URL, which may hold personal data in
		// its path or query: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return codeNetwork, err.Error()
	}
}

func httpError(code, msg string) []byte {
	out, _ := json.Marshal(abi.HTTPFailure{Error: abi.Error{Code: code, Message: msg}})
	return out
}
