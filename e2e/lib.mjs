// Helpers of the browser tests: Debian's Chromium driven by playwright-core,
// axe-core run on every page, a full-page screenshot of every page, and the
// pages' messages read from exchange/web/locales so that the tests check
// the texts the pages are meant to show, in each language.
//
// Environment (e2e_test.go sets it):
//   PONT_E2E_BASE_URL     the pont dev node, e.g. http://127.0.0.1:41234
//   PONT_E2E_SCREENSHOTS  where the screenshots go (default: e2e/screenshots)
//   PONT_E2E_CHROMIUM     the browser (default: chromium on the PATH, /usr/bin/chromium)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export const base = (process.env.PONT_E2E_BASE_URL || '').replace(/\/+$/, '');
if (!base) {
  throw new Error('PONT_E2E_BASE_URL is not set: run these tests with go test ./e2e/, which starts pont dev');
}
export const shotsDir = process.env.PONT_E2E_SCREENSHOTS || join(here, 'screenshots');
mkdirSync(shotsDir, { recursive: true });

// The WCAG levels the pages aim at (docs/web.md: WCAG 2.1 AA).
export const axeTags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function chromiumPath() {
  if (process.env.PONT_E2E_CHROMIUM) return process.env.PONT_E2E_CHROMIUM;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || '/usr/bin/chromium';
  } catch {
    return '/usr/bin/chromium';
  }
}

export async function launch() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Containers have a small /dev/shm; no GPU.
    args: ['--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
  });
}

// The pages' messages, by language: every locales/<area>.<lang>.json merged.
const localesDir = process.env.PONT_E2E_LOCALES || join(here, '..', 'exchange', 'web', 'locales');
const messages = {};
for (const f of readdirSync(localesDir)) {
  const m = /^[\w-]+\.(\w+)\.json$/.exec(f);
  if (!m) continue;
  messages[m[1]] ??= {};
  Object.assign(messages[m[1]], JSON.parse(readFileSync(join(localesDir, f), 'utf8')));
}

// T answers message id in lang, as the pages write it (placeholders
// {{.Name}} filled from data).
export function T(lang, id, data = {}) {
  const s = messages[lang]?.[id];
  if (s === undefined) throw new Error(`no message ${id} in ${lang} (exchange/web/locales)`);
  return s.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, k) => String(data[k] ?? ''));
}

// Problems are what the tests found wrong on the pages (accessibility
// violations, console errors, failed requests, missing focus), kept per
// flow and printed as they are found, so that one run names them all.
export class Problems {
  constructor(flow) {
    this.flow = flow;
    this.list = [];
  }
  add(page, kind, text) {
    const p = `[${this.flow}] ${page}: ${kind}: ${text}`;
    this.list.push(p);
    console.log(`\n!!! ${p}\n`);
  }
  // assertNone fails the flow when a problem was found.
  assertNone() {
    assert.equal(this.list.length, 0,
      `${this.list.length} problem(s) on the pages of the ${this.flow} flow:\n\n${this.list.join('\n\n')}\n`);
  }
}

// noted are the focus-ring contrasts already noted, once a run each.
const noted = new Set();

function formatViolation(v) {
  const nodes = v.nodes.map((n) => {
    const html = n.html.length > 300 ? n.html.slice(0, 300) + '…' : n.html;
    const summary = (n.failureSummary || '').split('\n').map((l) => '        ' + l).join('\n');
    return `    element ${n.target.join(' ')}\n      ${html}\n${summary}`;
  });
  return `rule ${v.id} [${v.impact}] ${v.help}\n    ${v.helpUrl}\n${nodes.join('\n')}`;
}

// Visitor is one person's browser: a context of its own (cookies), one
// tab, and the checks every page gets.
export class Visitor {
  constructor(browser, problems, { locale = 'ca-ES' } = {}) {
    this.browser = browser;
    this.problems = problems;
    this.locale = locale;
    this.status = 0;
    this.visited = [];
  }

  async open() {
    // bypassCSP: the pages' Content-Security-Policy forbids inline
    // scripts, and axe-core is injected as one. The header itself is
    // checked on every page (check below).
    this.context = await this.browser.newContext({
      baseURL: base, bypassCSP: true, locale: this.locale, acceptDownloads: true,
      viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce',
    });
    this.page = await this.context.newPage();
    this.page.setDefaultTimeout(15000);
    this.page.on('response', (r) => {
      if (r.request().isNavigationRequest() && r.frame() === this.page.mainFrame()) {
        this.status = r.status();
        this.csp = r.headers()['content-security-policy'] || '';
      } else if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) {
        this.problems.add(this.where(), 'failed request', `${r.status()} ${r.url()}`);
      }
    });
    this.page.on('console', (m) => {
      // A resource that failed is reported by the response listener, and
      // a page's status by check, with its URL: not again here.
      if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) {
        this.problems.add(this.where(), 'console error', m.text());
      }
    });
    this.page.on('pageerror', (e) => this.problems.add(this.where(), 'script error', e.message));
    return this;
  }

  where() {
    try {
      const u = new URL(this.page.url());
      return u.pathname + u.search;
    } catch {
      return '?';
    }
  }

  async close() {
    await this.context?.close();
  }

  // goto opens path and checks it (check).
  async goto(path, shot, opts = {}) {
    await this.page.goto(path);
    return this.check(shot, opts);
  }

  // click clicks what locator names, waits for the page it leads to
  // (url: a RegExp or predicate of its URL) and checks it.
  async clickTo(locator, url, shot, opts = {}) {
    await Promise.all([this.page.waitForURL(url, { waitUntil: 'load' }), locator.click()]);
    return this.check(shot, opts);
  }

  // press presses key on what has the focus, waits for the page it leads
  // to and checks it.
  async pressTo(key, url, shot, opts = {}) {
    await Promise.all([this.page.waitForURL(url, { waitUntil: 'load' }), this.page.keyboard.press(key)]);
    return this.check(shot, opts);
  }

  // check is what every page gets: its status, its security headers, its
  // language, one h1, axe-core with the WCAG 2.1 A and AA rules, and a
  // full-page screenshot shots/<shot>.png.
  async check(shot, { status = 200 } = {}) {
    const page = this.page;
    await page.waitForLoadState('load');
    const where = this.where();
    this.visited.push(where);
    if (this.status !== status) {
      this.problems.add(where, 'status', `answered ${this.status}, want ${status}`);
    }
    if (!/script-src 'self'/.test(this.csp || '') || /script-src[^;]*'unsafe-inline'/.test(this.csp)) {
      this.problems.add(where, 'security header', `Content-Security-Policy is ${JSON.stringify(this.csp)}`);
    }
    const lang = await page.getAttribute('html', 'lang');
    if (!['ca', 'es', 'en'].includes(lang)) this.problems.add(where, 'language', `<html lang=${JSON.stringify(lang)}>`);
    const h1s = await page.locator('h1').count();
    if (h1s !== 1) this.problems.add(where, 'headings', `${h1s} h1 elements, want one`);
    await this.axe(shot);
    await this.layout(shot);
    await this.shot(shot);
    return page;
  }

  // layout finds what axe-core does not: content wider than the window
  // (WCAG 1.4.10, reflow), and text that spills out of its card, where
  // the next card hides it.
  async layout(shot) {
    const found = await this.page.evaluate(() => {
      const out = [];
      const doc = document.documentElement;
      if (doc.scrollWidth > window.innerWidth + 1) {
        out.push(`the page is ${doc.scrollWidth}px wide in a ${window.innerWidth}px window: it scrolls sideways`);
      }
      const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
      for (const card of document.querySelectorAll('.card')) {
        const box = card.getBoundingClientRect();
        const spill = [];
        for (const el of card.querySelectorAll('*')) {
          const r = el.getBoundingClientRect();
          if (r.width === 0 || getComputedStyle(el).position === 'absolute') continue;
          const over = Math.round(r.right - box.right);
          if (over > 1 && el.children.length === 0 && el.textContent.trim()) {
            spill.push({ over, text: `${name(el)} "${el.textContent.trim().slice(0, 40)}" ends ${over}px past the card's right edge` });
          }
        }
        spill.sort((a, b) => b.over - a.over);
        if (spill.length) {
          const title = card.querySelector('h2')?.textContent.trim() ?? '';
          out.push(`${name(card)} "${title}" (${Math.round(box.width)}px wide): ${spill.length} element(s) spill out of it, e.g.\n      ` + spill.slice(0, 4).map((x) => x.text).join('\n      '));
        }
      }
      return out;
    });
    for (const f of found) this.problems.add(`${this.where()} (${shot}.png)`, 'LAYOUT', f);
  }

  async axe(shot) {
    const page = this.page;
    if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
      await page.addScriptTag({ content: axeSource });
    }
    const violations = await page.evaluate(async (tags) => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      if (r.passes.length === 0) return null;
      return r.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({ target: n.target.map(String), html: n.html, failureSummary: n.failureSummary })),
      }));
    }, axeTags);
    if (violations === null) {
      this.problems.add(this.where(), 'axe-core', 'no rule passed: axe-core did not run on the page');
      return;
    }
    for (const v of violations) {
      this.problems.add(`${this.where()} (${shot}.png)`, 'AXE VIOLATION', formatViolation(v));
    }
  }

  // shot takes a full-page screenshot of the page as it is now.
  shot(name) {
    return this.page.screenshot({ path: join(shotsDir, `${name}.png`), fullPage: true });
  }

  // lang is the page's language.
  lang() {
    return this.page.getAttribute('html', 'lang');
  }

  // tabTo presses Tab from the top of the page until selector has the
  // focus, checks that the focus is visible, and answers how many presses
  // it took.
  async tabTo(selector, { max = 60, fromTop = true } = {}) {
    const page = this.page;
    if (fromTop) {
      await page.evaluate(() => {
        document.activeElement?.blur?.();
        window.scrollTo(0, 0);
      });
    }
    for (let i = 1; i <= max; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) {
        await this.expectFocusVisible(selector);
        return i;
      }
    }
    const at = await page.evaluate(() => document.activeElement?.outerHTML?.slice(0, 200));
    throw new Error(`keyboard: ${max} Tab presses never reached ${selector} on ${this.where()} (the focus is on ${at})`);
  }

  // expectFocusVisible checks that what has the focus shows it: it
  // matches :focus-visible and has an outline (or a box shadow).
  async expectFocusVisible(what) {
    const f = await this.page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return { ok: false, el: 'nothing' };
      const cs = getComputedStyle(el);
      const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0;
      const r = el.getBoundingClientRect();
      // The colour behind the element: the first ancestor with a background.
      let bg = 'rgb(255, 255, 255)';
      for (let a = el.parentElement; a; a = a.parentElement) {
        const c = getComputedStyle(a).backgroundColor;
        if (c && c !== 'transparent' && !/rgba\(.*,\s*0\)$/.test(c)) {
          bg = c;
          break;
        }
      }
      const lum = (c) => {
        const [r, g, b] = (c.match(/[\d.]+/g) || []).slice(0, 3).map((x) => {
          const v = Number(x) / 255;
          return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const [l1, l2] = [lum(cs.outlineColor), lum(bg)].sort((a, b) => b - a);
      return {
        ring: outline ? (l1 + 0.05) / (l2 + 0.05) : 0,
        outlineColor: cs.outlineColor,
        background: bg,
        ok: el.matches(':focus-visible') && (outline || cs.boxShadow !== 'none') && r.width > 0 && r.height > 0,
        el: el.outerHTML.slice(0, 160),
        style: `outline ${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}, box-shadow ${cs.boxShadow}, ${r.width}x${r.height}`,
      };
    });
    if (!f.ok) {
      this.problems.add(this.where(), 'focus not visible', `${what}: ${f.el} (${f.style})`);
      return;
    }
    // WCAG 2.1 1.4.11 asks 3:1 of a focus indicator against what is next to
    // it; axe-core does not check it. Reported, not failed: see the report.
    if (f.ring && f.ring < 3) {
      const key = `${f.outlineColor} on ${f.background}`;
      if (!noted.has(key)) {
        noted.add(key);
        console.log(`NOTE ${this.where()}: the focus ring ${f.outlineColor} has a contrast of ${f.ring.toFixed(2)}:1 against the background ${f.background} (WCAG 2.1 1.4.11 asks 3:1), on ${what}`);
      }
    }
  }
}

// nextMonth is a date in the next month, YYYY-MM-DD: its 15th.
export function nextMonth(now = new Date()) {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 15)).toISOString().slice(0, 10);
}

// api calls the node's JSON API.
export async function api(method, path, { token, body, accept = 'application/json' } = {}) {
  const headers = { Accept: accept };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}
