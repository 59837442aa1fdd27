// The social benefits adapter of the INSS Registro de Prestaciones Sociales
// Públicas, written in AssemblyScript from sdk-wasm/ABI.md alone: the twin of
// plugins/prestacions/adapter (Go), with the same behaviour and answers. It
// asks the register for the benefits the subject receives (http_call) and
// answers the catalog's prestacions shape.
//
// Build (plugins.Build does this): asc assembly/index.ts -O3
//   --runtime incremental --exportStart _initialize
//   --use abort=assembly/index/onAbort --outFile prestacions-as.wasm
// then embed manifest.json as the pont.manifest custom section.

// ---- ABI 1: imports from module "pont" (ABI.md section 4) ----

@external("pont", "log")
declare function pont_log(level: i32, ptr: usize, len: i32): void;

@external("pont", "http_call")
declare function pont_http_call(ptr: usize, len: i32): i64;

@external("pont", "config_get")
declare function pont_config_get(ptr: usize, len: i32): i64;

@external("pont", "read")
declare function pont_read(handle: i32, ptr: usize): i32;

// ---- ABI 1: exports (ABI.md section 2) ----

// input is the buffer handed to the host by pont_alloc; holding it in a
// global keeps the garbage collector off it until pont_handle has read it.
let input: ArrayBuffer | null = null;
// answer is the last answer; the host reads it after pont_handle returns,
// and it lives until the next call.
let answer: ArrayBuffer = new ArrayBuffer(0);

export function pont_alloc(size: i32): usize {
  const b = new ArrayBuffer(size);
  input = b;
  return changetype<usize>(b);
}

export function pont_handle(ptr: usize, len: i32): i64 {
  const text = String.UTF8.decodeUnsafe(ptr, <usize>len);
  input = null;
  answer = String.UTF8.encode(handle(text));
  return (<i64>changetype<usize>(answer) << 32) | <i64>answer.byteLength;
}

// onAbort replaces AssemblyScript's env.abort import (an adapter may import
// only pont and WASI): it logs why and traps, which fails this call only.
function onAbort(message: string | null, file: string | null, line: u32, column: u32): void {
  let m = "abort";
  if (message != null) m += ": " + message;
  if (file != null) m += " at " + file + ":" + line.toString() + ":" + column.toString();
  log(3, m);
  unreachable();
}

// ---- host helpers ----

const LEVEL_WARN = 2;

function log(level: i32, msg: string): void {
  const b = String.UTF8.encode(msg);
  pont_log(level, changetype<usize>(b), b.byteLength);
}

// take copies the bytes behind a handle result (handle << 32 | length).
function take(result: i64): string | null {
  const handle = <i32>(result >>> 32);
  const n = <i32>(result & 0xffffffff);
  const b = new ArrayBuffer(n);
  if (pont_read(handle, changetype<usize>(b)) < 0) return null;
  return String.UTF8.decode(b);
}

function configGet(key: string): string | null {
  const k = String.UTF8.encode(key);
  const r = pont_config_get(changetype<usize>(k), k.byteLength);
  if (r < 0) return null;
  return take(r);
}

// Response is http_call's result: a status and body, or the host's error.
class Response {
  status: i32 = 0;
  body: string = "";
  // notUTF8 is set when the host handed the body over as body_base64: the
  // register answers UTF-8 JSON, so such a body is not one this adapter
  // reads.
  notUTF8: bool = false;
  errorCode: string = "";
  errorMessage: string = "";
}

function httpGet(url: string): Response {
  const req = String.UTF8.encode('{"method":"GET","url":' + quote(url) + "}");
  const out = take(pont_http_call(changetype<usize>(req), req.byteLength));
  const res = new Response();
  if (out == null) {
    res.errorCode = "bad_request";
    res.errorMessage = "the host's result could not be read";
    return res;
  }
  const v = parseJSON(out);
  if (v == null || v.kind != J_OBJ) {
    res.errorCode = "bad_request";
    res.errorMessage = "the host's result is not JSON";
    return res;
  }
  const e = v.get("error");
  if (e != null) {
    res.errorCode = e.str("code");
    res.errorMessage = e.str("message");
    return res;
  }
  const status = v.get("status");
  if (status != null && status.kind == J_NUM) res.status = <i32>parseInt(status.text);
  if (v.get("body") == null && v.get("body_base64") != null) {
    res.notUTF8 = true;
  } else {
    res.body = v.str("body");
  }
  return res;
}

// ---- the adapter ----

const MAX_BENEFITS = 35;

function handle(text: string): string {
  const q = parseJSON(text);
  if (q == null || q.kind != J_OBJ) {
    return errorAnswer("invalid_params", "the input is not the ABI's query JSON");
  }
  let id = "";
  const subject = q.get("subject");
  if (subject != null) id = subject.str("id");

  const base = configGet("source_url");
  if (base == null) {
    return errorAnswer("misconfigured", "the adapter has no source_url configured");
  }
  if (!absoluteHTTP(base)) {
    return errorAnswer("misconfigured", "source_url is not an absolute http(s) URL");
  }
  const res = httpGet(trimRightSlash(base) + "/rpsp/v1/prestaciones?ipf=" + queryEscape(id));
  if (res.errorCode.length > 0) {
    return errorAnswer("source_unavailable",
      "the register of social benefits could not be reached: http " + res.errorCode + ": " + res.errorMessage);
  }
  if (res.status == 404) {
    return errorAnswer("subject_not_found", "the register holds no benefit for the subject");
  }
  if (res.status >= 500) {
    return errorAnswer("source_unavailable", "the register of social benefits answered HTTP " + res.status.toString());
  }
  if (res.status != 200) {
    return errorAnswer("source_unavailable", "the register of social benefits refused the query with HTTP " + res.status.toString());
  }
  if (res.notUTF8) {
    return errorAnswer("source_unavailable", "the register of social benefits answered text the adapter cannot read: the body is not UTF-8");
  }
  const r = parseJSON(res.body);
  if (r == null || r.kind != J_OBJ) {
    return errorAnswer("source_unavailable", "the register of social benefits answered something unreadable: not a JSON object");
  }
  const list = r.get("prestaciones");
  if (list != null && list.kind != J_ARR && list.kind != J_NULL) {
    return errorAnswer("source_unavailable", "the register of social benefits answered something unreadable: prestaciones is not a list");
  }
  let items: Array<JValue> = [];
  if (list != null && list.kind == J_ARR) items = list.items;
  if (items.length == 0) {
    return errorAnswer("subject_not_found", "the register holds no benefit for the subject");
  }
  if (items.length > MAX_BENEFITS) {
    log(LEVEL_WARN, "the register listed " + items.length.toString() + " benefits; answering the first " + MAX_BENEFITS.toString());
    items = items.slice(0, MAX_BENEFITS);
  }

  const out: Array<string> = [];
  out.push('{"data":{"benefits":[');
  for (let i = 0; i < items.length; i++) {
    const p = items[i];
    if (p.kind != J_OBJ) {
      return errorAnswer("source_unavailable", "the register of social benefits answered something unreadable: a benefit is not an object");
    }
    const gross = p.integer("importeBrutoCent");
    const net = p.integer("importeNetoCent");
    const payments = p.integer("numeroPagas");
    if (gross.bad || net.bad || payments.bad) {
      return errorAnswer("source_unavailable", "the register of social benefits answered something unreadable: an amount is not an integer");
    }
    let bodyCode = "";
    let bodyName = "";
    const body = p.get("organismoGestor");
    if (body != null) {
      bodyCode = body.str("codigo");
      bodyName = body.str("nombre");
    }
    if (i > 0) out.push(",");
    out.push('{"code":' + quote(p.str("codigoPrestacion")));
    out.push(',"name":' + quote(p.str("denominacion")));
    out.push(',"type":' + quote(benefitType(p.str("tipo"))));
    out.push(',"managing_body":{"code":' + quote(bodyCode) + ',"name":' + quote(bodyName) + "}");
    // Amounts pass through as booked, sign included: a negative amount is
    // the register's error, which the broker's schema check reports.
    out.push(',"gross_amount":' + cents(gross.value));
    out.push(',"net_amount":' + cents(net.value));
    out.push(',"payments":' + payments.value.toString());
    out.push(',"effective_date":' + quote(isoDate(p.str("fechaEfectos"))));
    const end = isoDate(p.str("fechaBaja"));
    if (end.length > 0) out.push(',"end_date":' + quote(end));
    out.push("}");
  }
  out.push("]}}");
  return out.join("");
}

function benefitType(code: string): string {
  if (code == "C") return "contributory";
  if (code == "NC") return "non_contributory";
  if (code == "A") return "assistance";
  return "other";
}

// cents writes an amount in cents as a JSON number of euros, exactly:
// 34100 is 341, 45120 is 451.2, 101532 is 1015.32.
function cents(v: i64): string {
  let s = v < 0 ? "-" : "";
  const a = v < 0 ? -v : v;
  s += (a / 100).toString();
  const frac = <i32>(a % 100);
  if (frac == 0) return s;
  if (frac % 10 == 0) return s + "." + (frac / 10).toString();
  return s + "." + (frac < 10 ? "0" : "") + frac.toString();
}

// isoDate turns the register's yyyymmdd into yyyy-mm-dd; anything else is
// passed through for the broker's schema check to reject.
function isoDate(s: string): string {
  if (s.length != 8) return s;
  for (let i = 0; i < 8; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return s;
  }
  const y = <i32>parseInt(s.substring(0, 4));
  const m = <i32>parseInt(s.substring(4, 6));
  const d = <i32>parseInt(s.substring(6, 8));
  if (m < 1 || m > 12 || d < 1 || d > daysIn(y, m)) return s;
  return s.substring(0, 4) + "-" + s.substring(4, 6) + "-" + s.substring(6, 8);
}

function daysIn(y: i32, m: i32): i32 {
  if (m == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
  if (m == 4 || m == 6 || m == 9 || m == 11) return 30;
  return 31;
}

// absoluteHTTP reports whether s starts as an absolute http or https URL
// with a host; the host checks the whole URL of every request.
function absoluteHTTP(s: string): bool {
  const lower = s.toLowerCase();
  let rest = "";
  if (lower.startsWith("http://")) rest = lower.substring(7);
  else if (lower.startsWith("https://")) rest = lower.substring(8);
  return rest.length > 0 && !rest.startsWith("/");
}

function trimRightSlash(s: string): string {
  let n = s.length;
  while (n > 0 && s.charCodeAt(n - 1) == 47) n--;
  return s.substring(0, n);
}

const HEX = "0123456789ABCDEF";

// queryEscape escapes a query value as Go's url.QueryEscape does.
function queryEscape(s: string): string {
  const b = Uint8Array.wrap(String.UTF8.encode(s));
  let out = "";
  for (let i = 0; i < b.length; i++) {
    const c = <i32>b[i];
    const unreserved = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ||
      c == 45 || c == 46 || c == 95 || c == 126;
    if (unreserved) out += String.fromCharCode(c);
    else if (c == 32) out += "+";
    else out += "%" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
  }
  return out;
}

function errorAnswer(code: string, message: string): string {
  return '{"error":{"code":' + quote(code) + ',"message":' + quote(message) + "}}";
}

// quote writes s as a JSON string.
function quote(s: string): string {
  const out: Array<string> = ['"'];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c != 34 && c != 92 && c >= 32) continue;
    out.push(s.substring(start, i));
    start = i + 1;
    if (c == 34) out.push('\\"');
    else if (c == 92) out.push("\\\\");
    else if (c == 10) out.push("\\n");
    else if (c == 13) out.push("\\r");
    else if (c == 9) out.push("\\t");
    else out.push("\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15));
  }
  out.push(s.substring(start));
  out.push('"');
  return out.join("");
}

// ---- a small JSON reader ----

const J_NULL = 0;
const J_BOOL = 1;
const J_NUM = 2;
const J_STR = 3;
const J_ARR = 4;
const J_OBJ = 5;

class Int {
  value: i64 = 0;
  bad: bool = false;
}

class JValue {
  kind: i32 = J_NULL;
  flag: bool = false;
  // text is a string's value, or a number's literal.
  text: string = "";
  items: Array<JValue> = [];
  keys: Array<string> = [];

  get(key: string): JValue | null {
    if (this.kind != J_OBJ) return null;
    // The last of duplicate keys wins, as in Go's encoding/json.
    for (let i = this.keys.length - 1; i >= 0; i--) {
      if (this.keys[i] == key) return this.items[i];
    }
    return null;
  }

  // str is the member's string value, or "" when absent or not a string.
  str(key: string): string {
    const v = this.get(key);
    if (v == null || v.kind != J_STR) return "";
    return v.text;
  }

  // integer is the member's integer value: 0 when absent or null, bad when
  // it is not an integer (Go's encoding/json refuses such a record too).
  integer(key: string): Int {
    const r = new Int();
    const v = this.get(key);
    if (v == null || v.kind == J_NULL) return r;
    if (v.kind != J_NUM) {
      r.bad = true;
      return r;
    }
    const t = v.text;
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c == 46 || c == 101 || c == 69) {
        r.bad = true;
        return r;
      }
    }
    r.value = I64.parseInt(t);
    return r;
  }
}

class Reader {
  s: string;
  i: i32 = 0;
  bad: bool = false;
  depth: i32 = 0;

  constructor(s: string) {
    this.s = s;
  }

  space(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c != 32 && c != 9 && c != 10 && c != 13) break;
      this.i++;
    }
  }

  fail(): JValue {
    this.bad = true;
    return new JValue();
  }

  literal(word: string): bool {
    if (this.s.substr(this.i, word.length) != word) return false;
    this.i += word.length;
    return true;
  }

  value(): JValue {
    this.space();
    if (this.i >= this.s.length || this.depth > 64) return this.fail();
    const c = this.s.charCodeAt(this.i);
    const v = new JValue();
    if (c == 123) { // {
      this.depth++;
      v.kind = J_OBJ;
      this.i++;
      this.space();
      if (this.i < this.s.length && this.s.charCodeAt(this.i) == 125) {
        this.i++;
        this.depth--;
        return v;
      }
      while (true) {
        this.space();
        if (this.i >= this.s.length || this.s.charCodeAt(this.i) != 34) return this.fail();
        const k = this.string();
        if (this.bad) return v;
        this.space();
        if (this.i >= this.s.length || this.s.charCodeAt(this.i) != 58) return this.fail();
        this.i++;
        const item = this.value();
        if (this.bad) return v;
        v.keys.push(k);
        v.items.push(item);
        this.space();
        if (this.i >= this.s.length) return this.fail();
        const d = this.s.charCodeAt(this.i++);
        if (d == 125) break;
        if (d != 44) return this.fail();
      }
      this.depth--;
      return v;
    }
    if (c == 91) { // [
      this.depth++;
      v.kind = J_ARR;
      this.i++;
      this.space();
      if (this.i < this.s.length && this.s.charCodeAt(this.i) == 93) {
        this.i++;
        this.depth--;
        return v;
      }
      while (true) {
        const item = this.value();
        if (this.bad) return v;
        v.items.push(item);
        this.space();
        if (this.i >= this.s.length) return this.fail();
        const d = this.s.charCodeAt(this.i++);
        if (d == 93) break;
        if (d != 44) return this.fail();
      }
      this.depth--;
      return v;
    }
    if (c == 34) {
      v.kind = J_STR;
      v.text = this.string();
      return v;
    }
    if (this.literal("true")) {
      v.kind = J_BOOL;
      v.flag = true;
      return v;
    }
    if (this.literal("false")) {
      v.kind = J_BOOL;
      return v;
    }
    if (this.literal("null")) return v;
    // A number: -?digits(.digits)?([eE][+-]?digits)?
    const start = this.i;
    if (this.s.charCodeAt(this.i) == 45) this.i++;
    const digits = this.i;
    while (this.i < this.s.length) {
      const d = this.s.charCodeAt(this.i);
      if ((d >= 48 && d <= 57) || d == 46 || d == 101 || d == 69 || d == 43 || d == 45) this.i++;
      else break;
    }
    if (this.i == digits) return this.fail();
    v.kind = J_NUM;
    v.text = this.s.substring(start, this.i);
    return v;
  }

  // string reads a JSON string at i (which is at its opening quote).
  string(): string {
    this.i++;
    const parts: Array<string> = [];
    let start = this.i;
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c == 34) {
        parts.push(this.s.substring(start, this.i));
        this.i++;
        return parts.join("");
      }
      if (c < 32) break;
      if (c != 92) {
        this.i++;
        continue;
      }
      parts.push(this.s.substring(start, this.i));
      if (this.i + 1 >= this.s.length) break;
      const e = this.s.charCodeAt(this.i + 1);
      this.i += 2;
      if (e == 34) parts.push('"');
      else if (e == 92) parts.push("\\");
      else if (e == 47) parts.push("/");
      else if (e == 98) parts.push("\b");
      else if (e == 102) parts.push("\f");
      else if (e == 110) parts.push("\n");
      else if (e == 114) parts.push("\r");
      else if (e == 116) parts.push("\t");
      else if (e == 117 && this.i + 4 <= this.s.length) {
        const code = <i32>parseInt(this.s.substr(this.i, 4), 16);
        parts.push(String.fromCharCode(code));
        this.i += 4;
      } else break;
      start = this.i;
    }
    this.bad = true;
    return "";
  }
}

// parseJSON reads one JSON document, or null when s is not one.
function parseJSON(s: string): JValue | null {
  const r = new Reader(s);
  const v = r.value();
  r.space();
  if (r.bad || r.i != s.length) return null;
  return v;
}
