package query

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/store"
)

// AdapterColumns are the adapter_versions table's columns, the module
// aside, in the order of AdapterArgs and ScanAdapter.
var AdapterColumns = []string{
	"name", "version", "owner", "services", "scope", "module_sha256", "key_id", "signature",
	"published_at", "published_by",
}

// AdapterColumnList is AdapterColumns joined for a SELECT or INSERT.
var AdapterColumnList = strings.Join(AdapterColumns, ", ")

// ActivationColumns are the adapter_activations table's columns in the
// order of ScanActivation.
var ActivationColumns = []string{"seq", "name", "version", "kind", "at", "actor"}

// ActivationColumnList is ActivationColumns joined for a SELECT.
var ActivationColumnList = strings.Join(ActivationColumns, ", ")

// PlainText reports whether both stores keep s byte for byte: valid UTF-8
// without NUL. The registry's values are keys (a name, a version) and
// what the log must show exactly as signed (a signature), so the stores
// refuse the others instead of escaping them.
func PlainText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// checkTexts answers an error naming the first field whose value is not
// plain text.
func checkTexts(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if !PlainText(fields[i+1]) {
			return fmt.Errorf("%s %q is not UTF-8 text without NUL", fields[i], fields[i+1])
		}
	}
	return nil
}

// CheckAdapterVersion answers why the stores refuse to publish v, or nil.
// They keep what the registry's own keys and the log need: a name without
// '@' (a log ref is "name@version"), a version, a module whose SHA-256 is
// ModuleSHA256, a publication time, and text they keep byte for byte.
func CheckAdapterVersion(v store.AdapterVersion) error {
	switch {
	case v.Name == "":
		return errors.New("the adapter's Name is empty")
	case strings.Contains(v.Name, "@"):
		return fmt.Errorf("the adapter's Name %q holds '@', which separates it from the version in the log", v.Name)
	case v.Version == "":
		return errors.New("the adapter's Version is empty")
	case len(v.Module) == 0:
		return errors.New("the Module is empty")
	case v.PublishedAt.IsZero():
		return errors.New("PublishedAt is zero")
	}
	if err := checkTexts("Name", v.Name, "Version", v.Version, "Owner", v.Owner, "Scope", v.Scope,
		"ModuleSHA256", v.ModuleSHA256, "KeyID", v.KeyID, "Signature", v.Signature, "PublishedBy", v.PublishedBy); err != nil {
		return err
	}
	for i, s := range v.Services {
		if !PlainText(s) {
			return fmt.Errorf("Services[%d] %q is not UTF-8 text without NUL", i, s)
		}
	}
	sum := sha256.Sum256(v.Module)
	if got := hex.EncodeToString(sum[:]); v.ModuleSHA256 != got {
		return fmt.Errorf("ModuleSHA256 %q is not the module's SHA-256 (%s, in lowercase hex)", v.ModuleSHA256, got)
	}
	return nil
}

// AdapterArgs returns v's column values in AdapterColumns order and then
// the module: the time converted by d, the services as a JSON array text
// ("[]" when there are none). v must pass CheckAdapterVersion.
func AdapterArgs(v store.AdapterVersion, d Dialect) ([]any, error) {
	services := v.Services
	if services == nil {
		services = []string{}
	}
	sj, err := json.Marshal(services)
	if err != nil {
		return nil, fmt.Errorf("encode services of adapter %s@%s: %w", v.Name, v.Version, err)
	}
	return []any{
		v.Name, v.Version, v.Owner, string(sj), v.Scope, v.ModuleSHA256, v.KeyID, v.Signature,
		d.Time(v.PublishedAt), v.PublishedBy, v.Module,
	}, nil
}

// ScanAdapter reads one row selected with AdapterColumnList, and then the
// module when module is true. The time comes back in UTC; no services as
// nil.
func ScanAdapter(row Row, d Dialect, module bool) (store.AdapterVersion, error) {
	var v store.AdapterVersion
	var services []byte
	at, atValue := d.TimeDest()
	dest := []any{&v.Name, &v.Version, &v.Owner, &services, &v.Scope, &v.ModuleSHA256, &v.KeyID, &v.Signature,
		at, &v.PublishedBy}
	if module {
		dest = append(dest, &v.Module)
	}
	if err := row.Scan(dest...); err != nil {
		return store.AdapterVersion{}, err
	}
	if t := atValue(); t != nil {
		v.PublishedAt = *t
	}
	if err := json.Unmarshal(services, &v.Services); err != nil {
		return store.AdapterVersion{}, fmt.Errorf("decode services of adapter %s@%s: %w", v.Name, v.Version, err)
	}
	if len(v.Services) == 0 {
		v.Services = nil
	}
	return v, nil
}

// ScanActivation reads one row selected with ActivationColumnList.
func ScanActivation(row Row, d Dialect) (store.Activation, error) {
	var a store.Activation
	at, atValue := d.TimeDest()
	if err := row.Scan(&a.Seq, &a.Name, &a.Version, &a.Kind, at, &a.Actor); err != nil {
		return store.Activation{}, err
	}
	if t := atValue(); t != nil {
		a.At = *t
	}
	return a, nil
}

// CheckActivation answers a as ActivateAdapter records it (an empty Kind
// is store.Activate; Seq is the store's to assign), or why it is refused.
func CheckActivation(a store.Activation) (store.Activation, error) {
	switch {
	case a.Kind == "":
		a.Kind = store.Activate
	case a.Kind != store.Activate:
		return store.Activation{}, fmt.Errorf("Kind %q: ActivateAdapter records %q only (RollbackAdapter rolls back)", a.Kind, store.Activate)
	}
	switch {
	case a.Name == "":
		return store.Activation{}, errors.New("the adapter's Name is empty")
	case a.Version == "":
		return store.Activation{}, errors.New("the Version to activate is empty")
	case a.At.IsZero():
		return store.Activation{}, errors.New("At is zero")
	}
	if err := checkTexts("Name", a.Name, "Version", a.Version, "Actor", a.Actor); err != nil {
		return store.Activation{}, err
	}
	a.Seq = 0
	return a, nil
}

// CheckRollback answers why RollbackAdapter refuses its arguments, or nil.
func CheckRollback(name, actor string, at time.Time) error {
	switch {
	case name == "":
		return errors.New("the adapter's name is empty")
	case at.IsZero():
		return errors.New("the time is zero")
	}
	return checkTexts("name", name, "actor", actor)
}

// RollbackTarget answers the version a rollback of the adapter whose
// activations are history (oldest first) goes back to: the history is a
// stack, each activation pushing its version and each rollback popping
// the current one (a rollback records the version it went back to, which
// must be the one under it). store.ErrNotFound when the adapter was never
// activated, store.ErrNoEarlier when nothing is under its current
// version; another error when the history is not such a stack, which only
// tampering with the table gives.
func RollbackTarget(history []store.Activation) (string, error) {
	var stack []string
	for _, a := range history {
		switch a.Kind {
		case store.Activate:
			stack = append(stack, a.Version)
		case store.Rollback:
			if len(stack) < 2 || stack[len(stack)-2] != a.Version {
				return "", fmt.Errorf("activation %d rolled %s back to %q, which was not under its current version", a.Seq, a.Name, a.Version)
			}
			stack = stack[:len(stack)-1]
		default:
			return "", fmt.Errorf("activation %d of %s has the unknown kind %q", a.Seq, a.Name, a.Kind)
		}
	}
	switch len(stack) {
	case 0:
		return "", store.ErrNotFound
	case 1:
		return "", store.ErrNoEarlier
	}
	return stack[len(stack)-2], nil
}
