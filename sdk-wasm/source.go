package sdk

import "strings"

// Source is the system an adapter asks for its records, as the adapter's
// error answers name it. Its methods turn the usual ways a GET of a record
// goes wrong into the answer errors every adapter would otherwise write by
// hand, with the same messages for every adapter.
type Source struct {
	// Name names the source in messages, e.g. "the padró system".
	Name string
	// NotFound is the message of the subject_not_found answer to a 404,
	// e.g. "the subject is not registered in this municipality's padró".
	NotFound string
}

// Get fetches url with GET and returns the body of a 200 response as UTF-8
// text, decoded from the charset the source declared (HTTPResponse.Text):
// a record from a system that answers in ISO-8859-1 arrives intact. Any
// other outcome is an error ready to return from the handler:
//
//   - the host refused or failed the request (an *HTTPError):
//     source_unavailable, "<Name> could not be reached: <the error>";
//   - a 200 whose body Text cannot decode (a charset the SDK does not know,
//     bytes not valid in the declared one): source_unavailable,
//     "<Name> answered text the adapter cannot read: <why>";
//   - 404: subject_not_found, NotFound;
//   - 5xx: source_unavailable, "<Name> answered HTTP <status>";
//   - any other status: source_unavailable, "<Name> refused the query with
//     HTTP <status>" (a source answers a record with 200; anything else
//     means the adapter's request is not one it serves).
func (s Source) Get(url string) (body []byte, err error) {
	resp, err := Get(url)
	if err != nil {
		return nil, SourceUnavailable("%s could not be reached: %v", s.Name, err)
	}
	switch {
	case resp.Status == 200:
		text, err := resp.utf8Body()
		if err != nil {
			return nil, SourceUnavailable("%s answered text the adapter cannot read: %v", s.Name, err)
		}
		return text, nil
	case resp.Status == 404:
		return nil, s.SubjectNotFound()
	case resp.Status >= 500:
		return nil, SourceUnavailable("%s answered HTTP %d", s.Name, resp.Status)
	default:
		return nil, SourceUnavailable("%s refused the query with HTTP %d", s.Name, resp.Status)
	}
}

// SubjectNotFound is the subject_not_found error with the NotFound message,
// for a source that answers 200 with nothing for the subject (an empty
// list) as well as for a 404.
func (s Source) SubjectNotFound() error {
	return &Error{Code: CodeSubjectNotFound, Message: s.NotFound}
}

// Unreadable is the source_unavailable error for a body the adapter could
// not read: "<Name> answered something unreadable: <err>". The message
// reaches the requester: err must hold no personal data (jsonread's errors
// name a position in the body, not its strings).
func (s Source) Unreadable(err error) error {
	return SourceUnavailable("%s answered something unreadable: %v", s.Name, err)
}

// BaseURL returns the configuration value of key, an absolute http or https
// URL, without trailing slashes, so that the adapter appends its paths to
// it. When the operator set none, or set something else, it returns the
// misconfigured error "the adapter has no <key> configured" or "<key> is
// not an absolute http(s) URL", which names the key and never the value
// (the URL may carry credentials).
func BaseURL(key string) (string, error) {
	base, ok := Config(key)
	if !ok {
		return "", Misconfigured("the adapter has no %s configured", key)
	}
	if !absoluteHTTP(base) {
		return "", Misconfigured("%s is not an absolute http(s) URL", key)
	}
	return strings.TrimRight(base, "/"), nil
}

// absoluteHTTP reports whether s starts as an absolute http or https URL
// with a host. The host checks the whole URL of every request anyway, and
// url.Parse would add some 60 KB to every adapter's module.
func absoluteHTTP(s string) bool {
	lower := asciiLower(s)
	for _, scheme := range []string{"http://", "https://"} {
		if rest, ok := strings.CutPrefix(lower, scheme); ok {
			host, _, _ := strings.Cut(rest, "/")
			return host != "" && !strings.ContainsAny(host, " ?#")
		}
	}
	return false
}
