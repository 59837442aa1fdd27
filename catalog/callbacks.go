package catalog

import (
	"errors"
	"net/url"
	"strings"
)

// checkCallbackBase checks one of an organisation's callback URLs: an
// absolute https URL (http only for a loopback host, for development)
// without credentials, query or fragment, whose path ends in '/', so that
// "https://a.example/pont/" does not also allow "https://a.example/pont-evil".
func checkCallbackBase(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return err
	case !u.IsAbs() || u.Host == "":
		return errors.New("must be an absolute URL")
	case u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())):
		return errors.New("must be https (http only on a loopback host)")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must have no credentials, query or fragment")
	case !strings.HasSuffix(u.Path, "/"):
		return errors.New("its path must end in '/'")
	}
	return nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// CallbackAllowed reports whether u is under one of bases (an
// organisation's Callbacks): same scheme and host (port included), and a
// path that starts with the base's path, both as sent and decoded, and
// no ".." in either, so that neither "../" nor an encoded "%2e%2e" or
// "%2f" climbs out of the base.
func CallbackAllowed(bases []string, u *url.URL) bool {
	if u.User != nil || u.Fragment != "" || strings.Contains(u.EscapedPath(), "..") || strings.Contains(u.Path, "..") {
		return false
	}
	for _, raw := range bases {
		b, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if strings.EqualFold(b.Scheme, u.Scheme) && strings.EqualFold(b.Host, u.Host) &&
			strings.HasPrefix(u.EscapedPath(), b.EscapedPath()) && strings.HasPrefix(u.Path, b.Path) {
			return true
		}
	}
	return false
}
