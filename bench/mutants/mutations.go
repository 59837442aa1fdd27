package main

import "time"

// The packages the mutations name, shortest to type.
const (
	api       = "./exchange/api"
	audit     = "./exchange/audit"
	authPkg   = "./exchange/auth"
	broker    = "./exchange/broker"
	citizens  = "./exchange/citizens"
	envelope  = "./exchange/envelope"
	faultPkg  = "./exchange/fault"
	guard     = "./exchange/guard"
	interrupt = "./exchange/wasmhost/internal/interrupt"
	pipeline  = "./exchange/pipeline"
	translog  = "./exchange/translog"
	witnessPk = "./exchange/witness"
	postgres  = "./exchange/store/postgres"
	query     = "./exchange/store/internal/query"
	storePkg  = "./exchange/store"
	quota     = "./exchange/quota"
	serve     = "./cmd/pont"
	sqlite    = "./exchange/store/sqlite"
	wasmhost  = "./exchange/wasmhost"
)

// mutations are the deliberate bugs, each a plausible mistake that removes
// or weakens one defence. The defence's number is its place in the list of
// SECURITY.md's "Defences": 1 tokens, 2 the edge, 3 authorisation, 4 the
// transfer log, 5 adapters, 6 slow and failing sources, 7 quotas, 8 what
// strangers see, 9 the log proves itself. A mutation's packages are the ones most likely to catch
// it, cheapest first; the full suite runs when they do not.
var mutations = []mutation{
	// 1. Tokens.
	{
		id: "token-numericdate-float", defence: "1 tokens: NumericDate must be an integer",
		file: "exchange/auth/verifier.go",
		old: `	for _, b := range raw {
		if b < '0' || b > '9' {
			return 0, errors.New("not an integer: only digits are accepted")
		}
	}
	t, err := strconv.ParseInt(string(raw), 10, 64)`,
		new: `	f, err := strconv.ParseFloat(strings.Trim(string(raw), "\""), 64)
	t := int64(f)`,
		pkgs: []string{authPkg},
	},
	{
		id: "token-crit-accepted", defence: "1 tokens: crit refused",
		file: "exchange/auth/verifier.go",
		old:  `var refusedHeaders = []string{"crit", "b64", "jku", "x5u", "jwk", "x5c"}`,
		new:  `var refusedHeaders = []string{"b64", "jku", "x5u", "jwk", "x5c"}`,
		pkgs: []string{authPkg},
	},
	{
		id: "token-lifetime-any-role", defence: "1 tokens: per-role maximum lifetime",
		file: "exchange/auth/verifier.go",
		old:  `checkLifetime(u, p.Role, iss.maxLifetime[p.Role], now, v.cfg.skew)`,
		new:  `checkLifetime(u, p.Role, iss.maxLifetime[RoleRequester], now, v.cfg.skew)`,
		pkgs: []string{authPkg, serve},
	},
	{
		id: "token-repeated-member", defence: "1 tokens: no repeated members",
		file: "exchange/auth/verifier.go",
		old: `		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("member %s appears twice", quoteShort(name))
		}
`,
		new:  ``,
		pkgs: []string{authPkg},
	},
	{
		id: "token-any-audience", defence: "1 tokens: aud checked",
		file: "exchange/auth/verifier.go",
		old: `		jwt.WithAudience(iss.Audience),
`,
		new:  ``,
		pkgs: []string{authPkg},
	},
	{
		id: "token-cache-outlives-exp", defence: "1 tokens: exp checked, cached or not",
		file: "exchange/auth/verifier.go",
		old:  `if now.Before(p.Expires.Add(v.cfg.skew)) {`,
		new:  `if !p.Expires.IsZero() {`,
		pkgs: []string{authPkg},
	},

	// 2. The edge.
	{
		id: "envelope-control-chars", defence: "2 edge: no NUL or control character in a field",
		file: "exchange/envelope/parse.go",
		old:  `if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == utf8.RuneError {`,
		new:  `if r >= 0x7f && r < 0xa0 {`,
		pkgs: []string{envelope, broker},
	},
	{
		id: "envelope-length-in-bytes", defence: "2 edge: over-long names refused",
		file: "exchange/envelope/parse.go",
		old:  `if len(s) > n && utf8.RuneCountInString(s) > n {`,
		new:  `if len(s) > n*utf8.UTFMax {`,
		pkgs: []string{envelope, broker},
	},
	{
		id: "query-semicolon", defence: "2 edge: strict query strings (';')",
		file: "exchange/api/querystring.go",
		old: `		case strings.ContainsRune(pair, ';'):
			bad = append(bad, fault.FieldError{Field: pair, Message: "contains ';': separate parameters with '&'"})
			continue
`,
		new:  ``,
		pkgs: []string{api, broker},
	},
	{
		id: "query-pair-without-equals", defence: "2 edge: strict query strings (name=value)",
		file: "exchange/api/querystring.go",
		old: `		name, value, ok := strings.Cut(pair, "=")
		switch {
		case pair == "":
			bad = append(bad, fault.FieldError{Field: "query", Message: "has an empty pair (\"&&\" or a trailing \"&\")"})
			continue
		case !ok:
			bad = append(bad, fault.FieldError{Field: pair, Message: "must be given as name=value"})
			continue
`,
		new: `		name, value, _ := strings.Cut(pair, "=") // "name" alone is name=, as url.ParseQuery reads it
		switch {
		case pair == "":
			bad = append(bad, fault.FieldError{Field: "query", Message: "has an empty pair (\"&&\" or a trailing \"&\")"})
			continue
`,
		pkgs: []string{api, broker},
	},
	{
		id: "query-unprintable-name", defence: "2 edge: query names printable UTF-8",
		file: "exchange/api/querystring.go",
		old:  `case n == "" || fault.SafeText(n) != n || len(n) > maxQueryValue:`,
		new:  `case n == "" || len(n) > maxQueryValue:`,
		pkgs: []string{api, broker},
	},
	{
		id: "query-unprintable-value", defence: "2 edge: query values printable UTF-8",
		file: "exchange/api/querystring.go",
		old:  `case fault.SafeText(v) != v || len(v) > maxQueryValue:`,
		new:  `case len(v) > maxQueryValue:`,
		pkgs: []string{api, broker},
	},
	{
		id: "audit-filter-repeated", defence: "2 edge: each filter once",
		file: "exchange/api/audit.go",
		old: `		if len(values) != 1 {
			bad = append(bad, fault.FieldError{Field: name, Message: "must be given once"})
			continue
		}
`,
		new:  ``,
		pkgs: []string{api, broker},
	},
	{
		id: "self-access-param-repeated", defence: "2 edge: each param once (self-access)",
		file: "exchange/api/me.go",
		old: `		if len(values) != 1 {
			return envelope.Params{}, invalid("params."+name, "must be given once")
		}
`,
		new:  ``,
		pkgs: []string{api, broker},
	},
	{
		id: "object-repeated-member", defence: "2 edge: each member once (CheckObject)",
		file: "exchange/envelope/strict.go",
		old: `		case seen[name]:
			bad = append(bad, fault.FieldError{Field: name, Message: "is given more than once"})
`,
		new:  ``,
		pkgs: []string{envelope, broker},
	},
	{
		id: "object-miscased-member", defence: "2 edge: members spelt exactly (CheckObject)",
		file: "exchange/envelope/strict.go",
		old:  `case !slices.Contains(allowed, name):`,
		new:  `case !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, name) }):`,
		pkgs: []string{envelope, broker},
	},
	{
		id: "object-trailing-data", defence: "2 edge: one object, nothing after (CheckObject)",
		file: "exchange/envelope/strict.go",
		old:  `	if !json.Valid(raw) {`,
		new:  `	if json.NewDecoder(bytes.NewReader(raw)).Decode(new(json.RawMessage)) != nil {`,
		pkgs: []string{envelope, broker},
	},
	{
		id: "params-repeated-nested", defence: "2 edge: params' names once at every depth",
		file: "exchange/envelope/strict.go",
		old:  `if top.has(name) {`,
		new:  `if top.has(name) && n == 1 {`,
		pkgs: []string{envelope, broker},
	},
	{
		id: "safetext-unquoted", defence: "2 edge: refusals quote what they name",
		file: "exchange/fault/fault.go",
		old:  `if len(s) <= MaxTextBytes && printable(s) {`,
		new:  `if len(s) <= MaxTextBytes {`,
		pkgs: []string{faultPkg, broker},
	},
	{
		id: "log-any-service-name", defence: "2 edge: only catalog service names recorded",
		file: "exchange/pipeline/pipeline.go",
		old: `	if known {
		// Only the catalog's names reach the log: a path is the caller's
		// to fill, with a megabyte of anything.
		rec.Service = service
	}`,
		new:  `	rec.Service = service`,
		pkgs: []string{pipeline, broker},
	},

	// 3. Authorisation.
	{
		id: "verify-hidden-field", defence: "3 authz: verify only the purpose's fields",
		file: "exchange/pipeline/verify.go",
		old:  `	if !dec.AllFields {`,
		new:  `	if dec.AllFields {`,
		pkgs: []string{pipeline, broker},
	},
	{
		id: "minimisation-skipped", defence: "3 authz: only the purpose's fields leave",
		file: "exchange/pipeline/pipeline.go",
		old: `	if !dec.AllFields {
		if data, err = minimise(data, dec.Fields); err != nil {`,
		new: `	if dec.AllFields {
		if data, err = minimise(data, dec.Fields); err != nil {`,
		pkgs: []string{pipeline, broker},
	},
	{
		id: "objection-ignored", defence: "3 authz: presumed basis unless she objected",
		file: "exchange/pipeline/pipeline.go",
		old:  `objection = map[string]any{"id": o.ID, "service": o.Service, "procedure": o.Procedure}`,
		new:  `_ = o`,
		pkgs: []string{pipeline, broker},
	},
	{
		id: "objection-general-ignored", defence: "3 authz: an objection to every procedure",
		file: "exchange/store/internal/query/citizens.go",
		old:  `" WHERE subject = ? AND service = ? AND procedure IN (?, '')"`,
		new:  `" WHERE subject = ? AND service = ? AND procedure = ?"`,
		pkgs: []string{sqlite, postgres, broker},
	},
	{
		id: "objection-spelling", defence: "3 authz: objection in the catalog's spelling",
		file: "exchange/citizens/citizens.go",
		old: `		req.Procedure = p.code
		if req.Service != "" && !p.services[req.Service] {`,
		new:  `		if req.Service != "" && !p.services[req.Service] {`,
		pkgs: []string{citizens, broker},
	},
	{
		id: "consent-spelling", defence: "3 authz: consent in the catalog's spelling",
		file: "exchange/citizens/citizens.go",
		old: `	if p, ok := s.canonicalProcedure(req.Procedure); ok {
		req.Procedure = p.code
	}
`,
		new:  ``,
		pkgs: []string{citizens, broker},
	},
	{
		id: "consent-any-purpose", defence: "3 authz: consent's purpose is the procedure's",
		file: "exchange/citizens/citizens.go",
		old: `	} else if allowed != nil && !slices.Contains(allowed.Purposes, req.Purpose) {
		bad.add("purpose", "is not a purpose of procedure "+req.Procedure+" (it has "+strings.Join(allowed.Purposes, ", ")+")")
	}`,
		new:  `	}`,
		pkgs: []string{citizens, broker},
	},
	{
		id: "consent-revocation-dropped", defence: "3 authz: a revoked consent is refused",
		file: "exchange/pipeline/pipeline.go",
		old: `	if c.RevokedAt != nil {
		revoked = c.RevokedAt.UTC().Format(time.RFC3339Nano)
	}
`,
		new:  ``,
		pkgs: []string{pipeline, broker},
	},
	{
		id: "consent-other-subject", defence: "3 authz: a consent must be the subject's",
		file: "policies/legal_basis.rego",
		old: `_consent_mismatches contains "it belongs to another subject" if {
	not _consent.subject == input.request.subject.id
}
`,
		new:  ``,
		pkgs: []string{"./exchange/policy", broker},
	},
	{
		id: "her-transfers-everyones", defence: "3 authz: a citizen reads only her own",
		file: "exchange/api/me.go",
		old:  `	f.Subject = p.Sub // hers, whatever the request says`,
		new:  `	_ = p // the filters she gave`,
		pkgs: []string{api, broker},
	},
	{
		id: "audit-open-to-requesters", defence: "3 authz: only auditors search the log",
		file: "exchange/api/api.go",
		old:  `r.Use(requireRole(s.log, auth.RoleAuditor))`,
		new:  `r.Use(requireRole(s.log, auth.RoleAuditor, auth.RoleRequester))`,
		pkgs: []string{api, broker},
	},
	{
		id: "revoke-anyones-consent", defence: "3 authz: she revokes only her own consent",
		file: "exchange/store/internal/query/citizens.go",
		old:  `" WHERE subject = ? AND id = ? RETURNING "`,
		new:  `" WHERE (subject = ? OR TRUE) AND id = ? RETURNING "`,
		pkgs: []string{sqlite, postgres, broker},
	},
	{
		id: "withdraw-anyones-objection", defence: "3 authz: she withdraws only her own objection",
		file: "exchange/store/internal/query/citizens.go",
		old:  `"DELETE FROM objections WHERE subject = ? AND id = ?"`,
		new:  `"DELETE FROM objections WHERE (subject = ? OR TRUE) AND id = ?"`,
		pkgs: []string{sqlite, postgres, broker},
	},

	// 4. The transfer log.
	{
		id: "fail-open", defence: "4 log: fail closed when the record cannot commit",
		file: "exchange/pipeline/pipeline.go",
		old:  `	if cerr := p.commit(ctx, rec); cerr != nil {`,
		new:  `	if cerr := p.commit(ctx, rec); cerr != nil && err != nil {`,
		pkgs: []string{pipeline, broker},
	},
	{
		id: "sha256-of-the-body", defence: "4 log: data_sha256 of exactly the data sent",
		file: "exchange/pipeline/pipeline.go",
		old:  `sum := sha256.Sum256(ans.Data)`,
		new:  `sum := sha256.Sum256(ans.Body)`,
		pkgs: []string{pipeline, broker},
	},
	{
		id: "media-type-refusal-unrecorded", defence: "4 log: a refusal at the edge is recorded",
		file: "exchange/api/query.go",
		old:  `writeProblem(w, r, s.log, s.cfg.Pipeline.Refuse(r.Context(), principal, pipeline.KindQuery, chi.URLParam(r, "service"), err))`,
		new:  `writeProblem(w, r, s.log, err)`,
		pkgs: []string{api, broker},
	},
	{
		id: "self-access-refusal-not-hers", defence: "4 log: a refused read of her data is hers",
		file: "exchange/api/me.go",
		old:  `s.cfg.Pipeline.Refuse(r.Context(), p, pipeline.KindSelfAccess, service, err)`,
		new:  `s.cfg.Pipeline.Refuse(r.Context(), p, pipeline.KindQuery, service, err)`,
		pkgs: []string{api, broker},
	},
	{
		id: "store-invalid-utf8-kept", defence: "4 log: bytes not UTF-8 written \\xHH",
		file: "exchange/store/storable.go",
		old:  `case r == utf8.RuneError && size == 1, r == 0:`,
		new:  `case r == 0:`,
		pkgs: []string{storePkg, postgres, broker},
	},
	{
		id: "store-backslash-undoubled", defence: "4 log: escapes cannot be confused with text",
		file: "exchange/store/storable.go",
		old:  "case r == '\\\\':\n\t\t\tb.WriteString(`\\\\`)",
		new:  "case r == '\\\\':\n\t\t\tb.WriteByte('\\\\')",
		pkgs: []string{storePkg, postgres, broker},
	},
	{
		id: "store-escape-unreported", defence: "4 log: record_altered names escaped fields",
		file: "exchange/store/storable.go",
		old:  `if escaped == nil && cut == nil && dropped == 0 {`,
		new:  `if cut == nil && dropped == 0 {`,
		pkgs: []string{storePkg, postgres, broker},
	},
	{
		id: "audit-batch-fails-whole", defence: "4 log: a refused record fails only itself",
		file: "exchange/audit/audit.go",
		old: `		case errors.Is(err, store.ErrRejected) && len(batch) > 1:
			// The store refused the data, and one record's data must
			// not fail the others': find the records it refuses.
			l.opts.Logger.Warn("audit: store refused a batch; writing its halves apart", "records", len(batch), "err", err)
			l.isolate(batch, records)
`,
		new:  ``,
		pkgs: []string{audit, broker},
	},

	// 5. Adapters.
	{
		id: "interrupt-no-entry-check", defence: "5 adapters: interrupt at function entry",
		file: "exchange/wasmhost/internal/interrupt/interrupt.go",
		old: `	out = append(out, c.enter...)
	out = append(out, c.check...)`,
		new:  `	out = append(out, c.enter...)`,
		pkgs: []string{interrupt, wasmhost},
		// A guest that is never stopped holds up the test process.
		timeout: 3 * time.Minute,
	},
	{
		id: "interrupt-no-loop-check", defence: "5 adapters: interrupt at every loop head",
		file: "exchange/wasmhost/internal/interrupt/interrupt.go",
		old: `			out = append(out, code[copied:end]...)
			out = append(out, c.check...)
			copied = end`,
		new: `			out = append(out, code[copied:end]...)
			copied = end`,
		pkgs: []string{interrupt, wasmhost},
		// A guest that is never stopped holds up the test process.
		timeout: 3 * time.Minute,
	},
	{
		id: "interrupt-flag-ignored", defence: "5 adapters: runaway stopped at its deadline",
		file: "exchange/wasmhost/internal/interrupt/interrupt.go",
		old: `	b = get(b, m.flag)
	b = get(b, depth)`,
		new: `	b = append(b, 0x41, 0) // i32.const 0
	b = get(b, depth)`,
		pkgs: []string{interrupt, wasmhost},
		// A guest that is never stopped holds up the test process.
		timeout: 3 * time.Minute,
	},
	{
		id: "interrupt-depth-unbounded", defence: "5 adapters: call depth bounded",
		file: "exchange/wasmhost/internal/interrupt/interrupt.go",
		old: `	b = get(b, m.flag)
	b = get(b, depth)`,
		new: `	b = get(b, m.flag)
	b = get(b, countdown)`,
		pkgs: []string{interrupt, wasmhost},
		// A guest that is never stopped holds up the test process.
		timeout: 3 * time.Minute,
	},
	{
		id: "adapter-deadline-doubled", defence: "5 adapters: a deadline per call",
		file: "exchange/wasmhost/adapter.go",
		old:  `ctx, cancel := context.WithTimeout(ctx, a.limits.Timeout)`,
		new:  `ctx, cancel := context.WithTimeout(ctx, 2*a.limits.Timeout)`,
		pkgs: []string{wasmhost},
	},
	{
		id: "redirect-anywhere", defence: "5 adapters: redirects re-checked against the hosts",
		file: "exchange/wasmhost/httpcall.go",
		old: `		o, err := manifest.Origin(req.URL)
		if err != nil || !allowed[o] {`,
		new: `		_, err := manifest.Origin(req.URL) // an origin, so a host of http(s)
		if err != nil {`,
		pkgs: []string{wasmhost, broker},
	},
	{
		id: "memory-cap-loose", defence: "5 adapters: memory capped",
		file: "exchange/wasmhost/adapter.go",
		old:  `cappedAllocator(a.limits.MemoryPages)`,
		new:  `cappedAllocator(4 * a.limits.MemoryPages)`,
		pkgs: []string{wasmhost, broker},
	},
	{
		id: "answer-size-loose", defence: "5 adapters: answer size capped",
		file: "exchange/wasmhost/adapter.go",
		old:  `if int64(rlen) > int64(a.limits.MaxAnswerBytes) {`,
		new:  `if int64(rlen) > 8*int64(a.limits.MaxAnswerBytes) {`,
		pkgs: []string{wasmhost, broker},
	},

	// 6. Slow and failing sources.
	{
		id: "guard-no-subject-breaker", defence: "6 sources: a breaker per citizen's record",
		file: "exchange/guard/guard.go",
		old: `		sourceDone(outcome)
		g.remember(key, outcome)`,
		new:  `		sourceDone(outcome)`,
		pkgs: []string{guard, broker},
	},
	{
		id: "guard-one-record-trips-source", defence: "6 sources: one failing record spares the source",
		file: "exchange/guard/guard.go",
		old: `		prev := g.subjectFailures(key)
		subjectDone(outcome)
		if failed(outcome) && prev > 0 {
			sourceDone(errNotCounted)
		} else {
			sourceDone(outcome)
		}`,
		new: `		subjectDone(outcome)
		sourceDone(outcome)`,
		pkgs: []string{guard, broker},
	},
	{
		id: "guard-share-is-capacity", defence: "6 sources: fair share per organisation",
		file: "exchange/guard/guard.go",
		old:  `if mine >= g.cfg.Share && g.total >= g.cfg.Capacity && g.total > mine {`,
		new:  `if mine >= g.cfg.Capacity && g.total >= g.cfg.Capacity && g.total > mine {`,
		pkgs: []string{guard, broker},
	},
	{
		id: "pool-never-grows", defence: "6 sources: pool grows while waiting on the network",
		file: "exchange/wasmhost/adapter.go",
		old:  `return busy > 0 && a.longNetWaits(now) >= busy`,
		new:  `return busy > 0 && a.longNetWaits(now) > busy`,
		pkgs: []string{wasmhost, broker},
	},
	{
		id: "pool-over-budget", defence: "6 sources: pool growth within a memory budget",
		file: "exchange/wasmhost/adapter.go",
		old:  `return int(l.NetworkWaitMemory / per)`,
		new:  `return int(2 * l.NetworkWaitMemory / per)`,
		pkgs: []string{wasmhost, broker},
	},

	// 7. Quotas.
	{
		id: "quota-debt", defence: "7 quotas: 429 once the burst is spent",
		file: "exchange/quota/quota.go",
		old:  `if d := r.DelayFrom(now); d > 0 {`,
		new:  `if d := r.DelayFrom(now); d > time.Minute {`,
		pkgs: []string{quota, broker},
	},
	{
		id: "quota-refusal-unrecorded", defence: "7 quotas: the refusal is recorded",
		file: "exchange/pipeline/pipeline.go",
		old: `	if err = p.withinQuota(principal, kind); err == nil {
		out, err = answer(&rec)
	}`,
		new: `	if err = p.withinQuota(principal, kind); err != nil {
		return Answer{}, err
	}
	out, err = answer(&rec)`,
		pkgs: []string{pipeline, broker},
	},
	{
		id: "retry-after-rounded-down", defence: "7 quotas: Retry-After says when",
		file: "exchange/api/problem.go",
		old:  `strconv.Itoa(int(math.Ceil(fe.RetryAfter.Seconds())))`,
		new:  `strconv.Itoa(int(math.Floor(fe.RetryAfter.Seconds())))`,
		pkgs: []string{api, broker},
	},

	// 8. What strangers see.
	{
		id: "readyz-says-why", defence: "8 strangers: /readyz tells nothing",
		file: "exchange/api/api.go",
		old:  `writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})`,
		new:  `writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})`,
		pkgs: []string{api, broker},
	},
	{
		id: "metrics-public", defence: "8 strangers: /metrics on a listener of its own",
		file: "exchange/api/api.go",
		old:  `	if !cfg.PrivateMetrics {`,
		new:  `	if cfg.Registry != nil {`,
		pkgs: []string{api, broker},
	},
	{
		id: "readyz-newer-schema", defence: "8 strangers: /readyz checks the schema version",
		file: "exchange/store/postgres/ready.go",
		old:  `case version != want:`,
		new:  `case version < want:`,
		pkgs: []string{api, postgres},
	},
	{
		id: "readyz-sqlite-newer-schema", defence: "8 strangers: /readyz checks the schema version",
		file: "exchange/store/sqlite/ready.go",
		old:  `case version != want:`,
		new:  `case version < want:`,
		pkgs: []string{api, sqlite},
	},
	{
		id: "readyz-no-commit", defence: "8 strangers: /readyz checks a commit",
		file: "exchange/store/postgres/ready.go",
		old:  "tag, err := tx.Exec(ctx, `UPDATE schema_migrations SET applied_at = applied_at WHERE version = $1`, want)",
		new:  "tag, err := tx.Exec(ctx, `SELECT 1 FROM schema_migrations WHERE version = $1`, want)",
		pkgs: []string{api, postgres},
	},
	// 9. The log proves itself.
	{
		id: "leaf-ignores-personal", defence: "9 log: a leaf follows the personal fields",
		file: "exchange/translog/leaf.go",
		old: `		if t.Pruned() {
			return t.PersonalSHA256
		}`,
		new: `		if true {
			return t.PersonalSHA256
		}`,
		pkgs: []string{translog, broker},
	},
	{
		id: "verify-skips-entries", defence: "9 log: every entry checked against its leaf hash",
		file: "exchange/translog/verify.go",
		old:  `if !bytes.Equal(h[:], hashTile[i*tlog.HashSize:(i+1)*tlog.HashSize]) {`,
		new:  `if len(entry) == 0 && !bytes.Equal(h[:], hashTile[i*tlog.HashSize:(i+1)*tlog.HashSize]) {`,
		pkgs: []string{broker, serve},
	},
	{
		id: "receipt-personal-unchecked", defence: "9 log: a receipt's personal fields match the leaf",
		file: "exchange/translog/proof.go",
		old: `	if r.Personal != nil {
		sum := sha256.Sum256`,
		new: `	if r.Personal == nil {
		sum := sha256.Sum256`,
		pkgs: []string{broker},
	},
	{
		id: "auditor-reads-unrecorded", defence: "9 log: an auditor's reads are leaves",
		file: "exchange/api/translog.go",
		old: `	if s.cfg.Log == nil {
		return nil
	}
	p, _ := PrincipalFrom(r.Context())`,
		new: `	if s.cfg.Log != nil {
		return nil
	}
	p, _ := PrincipalFrom(r.Context())`,
		pkgs: []string{broker},
	},
	{
		id: "sealer-skips-late-commits", defence: "9 log: the sealer never passes over a late commit",
		file: "exchange/store/postgres/log.go",
		old:  `"SELECT pg_snapshot_xmin(pg_current_snapshot()), size, seal_cursor FROM log_state"`,
		new:  `"SELECT pg_snapshot_xmax(pg_current_snapshot()), size, seal_cursor FROM log_state"`,
		pkgs: []string{postgres},
	},
	{
		id: "witness-cosigns-fork", defence: "9 log: a witness refuses a fork",
		file: "exchange/witness/witness.go",
		old: `	case c.N == last.size:
		if c.Hash != last.root {`,
		new: `	case c.N == last.size:
		if false && c.Hash != last.root {`,
		pkgs: []string{witnessPk, broker},
	},
}
