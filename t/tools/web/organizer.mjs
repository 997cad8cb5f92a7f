// t/tools/web/organizer.mjs — the browser tests of the organizer dashboard
// (html/organizer.html) and of the MCP Apps session cards
// (html/assets/mcp-app.js), run by t/web_organizer.t:
//
//   node organizer.mjs --base http://127.0.0.1:PORT --artifacts DIR \
//        --fixture '{"key": "chk_...", "conference": "...", "app": {...}}'
//
// Debian's chromium (CHROMIUM) driven by playwright-core; axe-core scans
// each page.  Prints one JSON object at the end: {"checks": [{name, ok,
// detail, skip}]}.  A check never depends on a wall-clock figure: waits
// are for states of the page, with generous timeouts.

import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
    args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
const BASE = args.base;
const ART = args.artifacts;
const FX = JSON.parse(args.fixture || '{}');
const ZONE = 'America/New_York';

const checks = [];
function check(name, ok, detail) {
    checks.push({ name, ok: !!ok, detail: ok ? undefined : String(detail) });
    return !!ok;
}
function skip(name, why) {
    checks.push({ name, ok: true, skip: why });
}
async function step(name, fn) {
    try {
        await fn();
    } catch (e) {
        check(name + ': ran without an exception', false,
              String(e && e.stack || e));
    }
}

fs.mkdirSync(ART, { recursive: true });

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});

async function makeContext(viewport) {
    const ctx = await browser.newContext({
        viewport, timezoneId: ZONE, locale: 'en-US', acceptDownloads: true,
        isMobile: viewport.width < 500, hasTouch: viewport.width < 500,
    });
    await ctx.addInitScript(() => {
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => {
            window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
        });
    });
    return ctx;
}

async function newPage(ctx) {
    const page = await ctx.newPage();
    const rec = { csp: [], errors: [], dialogs: [], requests: [], console: [] };
    page.on('console', (m) => {
        rec.console.push(m.type() + ': ' + m.text());
        if (/Content.Security.Policy/i.test(m.text())) {
            rec.csp.push('console: ' + m.text());
        }
    });
    page.on('pageerror', (e) => rec.errors.push(String(e)));
    page.on('dialog', (d) => { rec.dialogs.push(d.message()); d.dismiss(); });
    page.on('request', (r) => rec.requests.push(
        { url: r.url(), method: r.method(), headers: r.headers() }));
    page.rec = rec;
    return page;
}

async function idle(page) {
    await page.waitForLoadState('networkidle', { timeout: 15000 });
}

async function axe(target, name) {
    await target.evaluate(AXE);
    const res = await target.evaluate(() => window.axe.run(document, {
        resultTypes: ['violations'],
    }));
    const bad = res.violations.filter(
        (v) => v.impact === 'serious' || v.impact === 'critical');
    check(`${name}: axe-core finds no serious or critical accessibility `
          + 'violation', bad.length === 0,
          bad.map((v) => `${v.impact} ${v.id}: ${v.help} `
                  + v.nodes.slice(0, 3).map((n) => n.target.join(' '))
                      .join(', ')).join('\n'));
}

async function audit(page, name, resp, vn) {
    const h = resp ? resp.headers() : {};
    const csp = h['content-security-policy'] || '';
    if (resp) {
        check(`${name} (${vn}): Content-Security-Policy is strict`,
              /default-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp)
              && /script-src 'self'/.test(csp)
              && !/unsafe-inline|unsafe-eval|\*/.test(csp), 'header: ' + csp);
    }
    const foreign = page.rec.requests.filter(
        (r) => !r.url.startsWith(BASE + '/') && !r.url.startsWith('data:')
               && !r.url.startsWith('blob:'));
    check(`${name} (${vn}): nothing requested from another origin`,
          foreign.length === 0, foreign.map((r) => r.url).join('\n'));
    const inPage = await page.evaluate(() => window.__csp || []);
    check(`${name} (${vn}): no CSP violation`,
          inPage.length === 0 && page.rec.csp.length === 0,
          inPage.concat(page.rec.csp).join('\n'));
    check(`${name} (${vn}): no script error`, page.rec.errors.length === 0,
          page.rec.errors.join('\n'));
    await axe(page, `${name} (${vn})`);
    const file = path.join(ART, `${name}-${vn}.png`);
    await page.screenshot({ path: file, fullPage: true });
    check(`${name} (${vn}): screenshot kept`, fs.statSync(file).size > 1000, file);
}

// the key never goes into an address, and only to our own API
function keyInUrls(page) {
    return page.rec.requests.filter((r) => r.url.includes(FX.key)
        || r.url.includes(encodeURIComponent(FX.key)));
}

const VIEWS = [['phone', { width: 390, height: 844 }],
               ['desktop', { width: 1280, height: 800 }]];
const ctxs = {};
for (const [n, vp] of VIEWS) {
    ctxs[n] = await makeContext(vp);
}
const desk = ctxs.desktop;

async function signIn(page, key) {
    await page.locator('#api-key').fill(key);
    await page.locator('#signin button[type=submit]').click();
    await page.waitForSelector('#dashboard:not([hidden])', { timeout: 15000 });
}

// ------------------------------------------------------------ signed out
for (const [vn] of VIEWS) {
    await step(`signed out (${vn})`, async () => {
        const page = await newPage(ctxs[vn]);
        const resp = await page.goto(BASE + '/organizer');
        await page.waitForSelector('#step-create');
        await idle(page);
        if (vn === 'desktop') {
            const steps = await page.locator('#onboarding').innerText();
            check('onboarding: the operator\'s three steps, with this server\'s '
                  + 'address', steps.includes(BASE + '/api/admin/organizers?name=')
                  && steps.includes('/conferences/') && steps.includes('/keys?label=')
                  && /rotate/i.test(steps), steps.slice(0, 600));
            check('onboarding: each step can be copied',
                  await page.locator('#onboarding button.copy').count() === 3, '');
            check('signed out: the dashboard is hidden',
                  await page.locator('#dashboard').isHidden(), '');
        }
        await audit(page, 'organizer-signed-out', resp, vn);
        await page.close();
    });
}

// ------------------------------------------------------------ sign in
let dash = null;
await step('sign in', async () => {
    const page = await newPage(desk);
    await page.goto(BASE + '/organizer');
    await page.waitForSelector('#api-key');
    await page.locator('#api-key').fill('not-a-key');
    await page.locator('#signin button[type=submit]').click();
    await page.waitForSelector('#signin-status .notice.error');
    check('sign in: a malformed key is refused in the page',
          await page.locator('#api-key').getAttribute('aria-invalid') === 'true'
          && await page.locator('#dashboard').isHidden(), '');
    const wrong = 'chk_000000000000_' + '0'.repeat(48);
    const [wr] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/api/organizer'),
        (async () => {
            await page.locator('#api-key').fill(wrong);
            await page.locator('#signin button[type=submit]').click();
        })(),
    ]);
    await page.waitForSelector('#signin-status .notice.error');
    check('sign in: an unknown key gets 401 and says so',
          wr.status() === 401 && /not accepted/.test(
              await page.locator('#signin-status').innerText())
          && await page.locator('#dashboard').isHidden(),
          await page.locator('#signin-status').innerText());

    await signIn(page, FX.key);
    const who = await page.locator('#who').innerText();
    check('sign in: the organizer\'s name and plan are shown (as text)',
          who.includes(FX.organizer) && /plan: Pro/i.test(who), who);
    check('sign in: the onboarding and the form are hidden',
          await page.locator('#signin-box').isHidden()
          && await page.locator('#onboarding').isHidden(), '');
    const store = await page.evaluate(() => ({
        session: sessionStorage.getItem('confhaven.organizer.key'),
        local: JSON.stringify(localStorage),
        cookie: document.cookie, url: location.href,
    }));
    check('sign in: the key is kept in sessionStorage (this tab)',
          store.session === FX.key, JSON.stringify(store));
    check('sign in: not in localStorage, a cookie or the address',
          !store.local.includes(FX.key) && !store.cookie.includes(FX.key)
          && !store.url.includes(FX.key), JSON.stringify(store));
    const api = page.rec.requests.filter((r) => r.url.startsWith(BASE + '/api/organizer'));
    check('sign in: the key goes in an X-API-Key header',
          api.length > 0 && api.some((r) => r.headers['x-api-key'] === FX.key), '');
    check('sign in: the key never appears in an address',
          keyInUrls(page).length === 0, keyInUrls(page).map((r) => r.url).join('\n'));
    check('sign in: the conferences owned are listed',
          (await page.locator('#conferences').innerText()).includes('XSS <Conf> 2030'),
          await page.locator('#conferences').innerText());

    // another tab (same browser profile) is not signed in: sessionStorage
    const other = await newPage(desk);
    await other.goto(BASE + '/organizer');
    await other.waitForSelector('#api-key');
    await idle(other);
    check('sign in: another tab is not signed in',
          await other.locator('#dashboard').isHidden()
          && await other.evaluate(() => sessionStorage.length) === 0, '');
    await other.close();

    // a reload of this tab stays signed in
    await page.reload();
    await page.waitForSelector('#dashboard:not([hidden])');
    check('sign in: a reload of the tab stays signed in', true, '');
    dash = page;
});

// ------------------------------------------------------------ analytics
await step('analytics', async () => {
    const page = dash;
    await page.waitForSelector('figure[data-chart="per-day"] svg');
    await page.waitForSelector('figure[data-chart="zero"] svg');
    await idle(page);
    for (const id of ['per-day', 'zero', 'top-sessions', 'assistants']) {
        const fig = page.locator(`figure[data-chart="${id}"]`);
        const bars = await fig.locator('svg rect.bar').count();
        const named = await fig.locator('svg[role="img"] title').count();
        check(`analytics: the "${id}" chart is drawn as SVG with a text `
              + 'alternative', bars >= 1 && named === 1,
              `${bars} bars, ${named} titles: ${await fig.innerText()}`);
    }
    const totals = await page.locator('#totals').innerText();
    check('analytics: the totals are shown', /\d+\s*Searches/.test(totals), totals);
    const zero = await page.locator('figure[data-chart="zero"]').innerText();
    check('analytics: zero-result queries with their text (the payload as text)',
          zero.includes('<script>window.__xss=7') || zero.includes('<img src=x'),
          zero);
    const top = await page.locator('figure[data-chart="top-sessions"]').innerText();
    check('analytics: the top sessions by title (markup as text)',
          top.includes('<img src=x onerror='), top);
    const asst = await page.locator('figure[data-chart="assistants"] svg title').textContent();
    check('analytics: assistants used', /claude/i.test(asst), asst);
    // the numbers as a table too
    await page.locator('figure[data-chart="zero"] details summary').click();
    const table = await page.locator('figure[data-chart="zero"] table').innerText();
    check('analytics: the numbers are in a table as well', /\d/.test(table), table);

    // another period asks again
    const [resp] = await Promise.all([
        page.waitForResponse((r) => /\/api\/organizer\/analytics\?.*days=90/.test(r.url())),
        page.selectOption('#days', '90'),
    ]);
    check('analytics: the period selects the window (days=90)', resp.status() === 200, '');
    await page.waitForSelector('figure[data-chart="per-day"] svg');
});

await step('untrusted text on the dashboard', async () => {
    const page = dash;
    await idle(page);
    const got = await page.evaluate(() => ({
        flag: window.__xss,
        elems: document.querySelectorAll(
            '#main img, #main script, #main iframe, #main [onerror], '
            + '#main [onload], #main [onmouseover], #main b').length,
    }));
    check('xss dashboard: no script ran, no dialog',
          got.flag === undefined && page.rec.dialogs.length === 0,
          JSON.stringify({ flag: got.flag, dialogs: page.rec.dialogs }));
    check('xss dashboard: no element was made from the data', got.elems === 0,
          `${got.elems} elements`);
    const x = page.rec.requests.filter((r) => /\/x$|\/evil/.test(r.url));
    check('xss dashboard: nothing fetched from a payload', x.length === 0,
          x.map((r) => r.url).join('\n'));
});

// ------------------------------------------------------------ CSV
await step('csv', async () => {
    const page = dash;
    const [dl] = await Promise.all([
        page.waitForEvent('download', { timeout: 15000 }),
        page.locator('#csv').click(),
    ]);
    const file = path.join(ART, 'organizer-analytics.csv');
    await dl.saveAs(file);
    const text = fs.readFileSync(file, 'utf8');
    check('csv: the download is the analytics CSV',
          /^section,key,label,count\n/.test(text) && text.includes('searches_per_day')
          && /\.csv$/.test(dl.suggestedFilename()), text.slice(0, 300));
    check('csv: the key is not in the download\'s address',
          keyInUrls(page).length === 0, '');
});

// ------------------------------------------------------------ review
await step('review', async () => {
    const page = dash;
    await page.waitForSelector('#evaluations li.evaluation');
    const first = page.locator('#evaluations li.evaluation').first();
    const id = await first.getAttribute('data-id');
    const text = await first.innerText();
    check('review: a record shows the tool, the question and the answer',
          /search_sessions|get_session/.test(text) && /Answered|Error/.test(text), text);
    await first.locator('select').selectOption('4');
    const [resp] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'
            && new URL(r.url()).pathname === `/api/organizer/evaluations/${id}`),
        first.locator('button.review-approved').click(),
    ]);
    await page.waitForFunction((i) => /Saved/.test(document.querySelector(
        `#evaluations li[data-id="${i}"] .eval-status`).textContent), id);
    check('review: Approve with a rating is saved (status=approved&label=4)',
          resp.status() === 200 && /status=approved/.test(resp.url())
          && /label=4/.test(resp.url())
          && await first.locator('button.review-approved').getAttribute('aria-pressed') === 'true',
          `${resp.status()} ${resp.url()}`);
    const back = await page.request.get(
        `${BASE}/api/organizer/evaluations?conference=${FX.conference}&status=approved`,
        { headers: { 'X-API-Key': FX.key } });
    const j = await back.json();
    check('review: the server has it approved with label 4',
          (j.evaluations || []).some((e) => String(e.id) === id && e.label === 4
                                            && e.status === 'approved'),
          JSON.stringify(j).slice(0, 400));
    // the queue filter
    await page.selectOption('#review-status', 'approved');
    await page.waitForSelector(`#evaluations li[data-id="${id}"]`);
    check('review: the approved filter lists it', true, '');
});

// ------------------------------------------------------------ import
await step('import', async () => {
    const page = dash;
    await page.locator('#import-form button[type=submit]').click();
    check('import: without a file the page says so',
          /Choose a schedule file/.test(await page.locator('#import-status').innerText())
          && await page.locator('#import-file').getAttribute('aria-invalid') === 'true', '');
    await page.setInputFiles('#import-file', FX.upload);
    await page.locator('#import-tz').fill('Asia/Tokyo');
    const [resp] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'
            && /\/api\/organizer\/conferences\/.*\/import/.test(r.url())),
        page.locator('#import-form button[type=submit]').click(),
    ]);
    await page.waitForSelector('#import-status .notice:not(.muted)');
    const shown = await page.locator('#import-status').innerText();
    check('import: the upload goes with the key in a header, not the address',
          resp.request().headers()['x-api-key'] === FX.key
          && !resp.url().includes(FX.key) && /timezone=Asia%2FTokyo/.test(resp.url()),
          resp.url());
    if (resp.status() === 404 || resp.status() === 405) {
        check(`import: no organizer import on this server (${resp.status()}): said so`,
              /not available on this server/.test(shown), shown);
        skip('import: an uploaded schedule is imported and its abstract shown harmlessly',
             `POST /api/organizer/conferences/{slug}/import answers ${resp.status()} `
             + 'on this build (the endpoint comes with the tiers branch)');
        return;
    }
    if (!resp.ok()) {
        check(`import: the server's refusal (${resp.status()}) is shown`,
              shown.length > 0 && !/Imported/.test(shown), shown);
        return;
    }
    check('import: the upload is imported', /Imported/.test(shown), shown);
    const found = await page.request.get(
        `${BASE}/api/sessions?conference=${FX.conference}&q=two&include_past=true`);
    const j = await found.json();
    const s = (j.sessions || []).find((x) => /Pwned title two/.test(x.title));
    check('import: its sessions are searchable', !!s, JSON.stringify(j).slice(0, 300));
    if (s) {
        const p = await newPage(desk);
        await p.goto(`${BASE}/session?id=${s.id}`);
        await p.waitForSelector('article h1');
        await idle(p);
        const got = await p.evaluate(() => ({ flag: window.__xss,
            elems: document.querySelectorAll('#main img, #main script, #main svg').length,
            ab: (document.querySelector('.abstract') || {}).innerText || '' }));
        check('import: the uploaded abstract\'s <script> and onerror= are shown as text',
              got.flag === undefined && got.elems === 0 && got.ab.includes('<script>')
              && p.rec.dialogs.length === 0, JSON.stringify(got).slice(0, 300));
        await p.close();
    }
});

// ------------------------------------------------------------ billing
// The pro organizer (its tier given by the operator): nothing to upgrade,
// and no Stripe customer for the portal yet
await step('billing', async () => {
    const page = dash;
    const facts = await page.locator('#billing-facts').innerText();
    check('billing: the plan is shown', /Plan\s*Pro/i.test(facts), facts);
    check('billing: a pro organizer is not offered "Upgrade to Pro"',
          await page.locator('#upgrade').isHidden(), '');
    const [resp] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname
                                    === '/api/organizer/billing/portal'),
        page.locator('#portal').click(),
    ]);
    await page.waitForFunction(() => !/Opening/.test(
        document.getElementById('billing-status').textContent));
    const shown = await page.locator('#billing-status').innerText();
    check('billing: "Manage billing" without a Stripe customer: the 409 is '
          + 'said', resp.status() === 409 && /no Stripe customer/.test(shown)
          && resp.request().headers()['x-api-key'] === FX.key,
          `${resp.status()} ${shown}`);
});

// the answers the billing and tiers branches give, played by the test:
// the page shows them as they are meant
await step('billing and tier answers (routed)', async () => {
    const page = await newPage(desk);
    await page.goto(BASE + '/organizer');
    // the free organizer (still free: its upgrade comes next)
    await signIn(page, FX.free_key || FX.key);
    await page.route('**/api/organizer/billing/checkout', (route) => route.fulfill({
        status: 503, contentType: 'application/json',
        body: JSON.stringify({ error: 'billing_not_configured',
                               message: 'billing is not configured' }) }));
    await page.locator('#upgrade').click();
    await page.waitForFunction(() => /billing is not configured/.test(
        document.getElementById('billing-status').textContent));
    check('billing: 503 "billing is not configured" is shown as such',
          (await page.locator('#billing-status .notice').getAttribute('class')).includes('warn'), '');
    await page.route('**/api/organizer/billing/portal', (route) => route.fulfill({
        status: 404, contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'not_found', message: 'no route' } }) }));
    await page.locator('#portal').click();
    await page.waitForFunction(() => /not available on this server/.test(
        document.getElementById('billing-status').textContent));
    check('billing: a 404 portal is "not available on this server"', true, '');

    // the import's tier limit, as the pro organizer (it owns a conference)
    if (FX.free_key) {
        await page.locator('#signout').click();
        await signIn(page, FX.key);
    }
    await page.route('**/api/organizer/conferences/*/import*', (route) => route.fulfill({
        status: 403, contentType: 'application/json',
        body: JSON.stringify({ error: 'tier_limit', required_tier: 'pro',
            message: 'Importing schedules needs the pro tier <b>x</b>' }) }));
    await page.setInputFiles('#import-file', FX.upload);
    await page.locator('#import-form button[type=submit]').click();
    await page.waitForSelector('#import-status button.upgrade-inline');
    const shown = await page.locator('#import-status').innerText();
    check('tier limit: the message (as text) with an upgrade button',
          shown.includes('needs the pro tier <b>x</b>') && /Upgrade to Pro/.test(shown),
          shown);
    let posted = null;
    await page.route('**/api/organizer/billing/checkout', (route) => {
        posted = route.request().postData();
        return route.fulfill({ status: 200, contentType: 'application/json',
            body: JSON.stringify({ url: BASE + '/search?checkout=fake' }) });
    });
    await page.locator('#import-status button.upgrade-inline').click();
    await page.waitForURL(/checkout=fake/, { timeout: 15000 });
    check('tier limit: its upgrade button goes to the checkout URL answered',
          posted && JSON.parse(posted).tier === 'pro', posted);
    await page.close();
});

// A free organizer upgrades through Checkout on the fake Stripe (its own
// "checkout" page, which sends the signed webhooks when paid), comes back
// to the dashboard on Pro, and opens the customer portal
const STRIPE = FX.stripe || '';
await step('upgrade through checkout', async () => {
    if (!FX.free_key || !STRIPE) {
        skip('upgrade: Upgrade goes to Checkout and back on Pro',
             'no fake Stripe in the fixture');
        return;
    }
    const page = await newPage(desk);
    await page.goto(BASE + '/organizer');
    await signIn(page, FX.free_key);
    let facts = await page.locator('#billing-facts').innerText();
    check('upgrade: a free organizer sees plan Free and "Upgrade to Pro"',
          /Plan\s*Free/i.test(facts) && await page.locator('#upgrade').isVisible(),
          facts);
    await idle(page);
    await audit(page, 'organizer-free', await page.request.get(BASE + '/organizer'),
                'desktop');
    const [resp] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname
                                    === '/api/organizer/billing/checkout'),
        page.locator('#upgrade').click(),
    ]);
    await page.waitForURL((u) => u.href.startsWith(STRIPE + '/c/pay/'),
                          { timeout: 15000 });
    check('upgrade: POST /api/organizer/billing/checkout {"tier":"pro"} '
          + 'answers 200 with the Checkout URL', resp.status() === 200
          && JSON.parse(resp.request().postData() || '{}').tier === 'pro'
          && page.url().startsWith(STRIPE + '/c/pay/cs_test_'),
          `${resp.status()} ${page.url()}`);
    let file = path.join(ART, 'stripe-checkout-desktop.png');
    await page.screenshot({ path: file, fullPage: true });
    check('upgrade: screenshot of the checkout page kept',
          fs.statSync(file).size > 1000, file);

    // pay: the fake delivers the webhooks, then sends us to success_url
    await page.locator('#pay').click();
    await page.waitForURL((u) => u.href.startsWith(BASE + '/organizer'),
                          { timeout: 30000 });
    await page.waitForSelector('#dashboard:not([hidden])', { timeout: 15000 });
    await page.waitForFunction(() => /plan is now Pro/.test(
        document.getElementById('flash').textContent), null, { timeout: 40000 });
    check('upgrade: back from Checkout the dashboard says the plan is now Pro',
          true, await page.locator('#flash').innerText());
    facts = await page.locator('#billing-facts').innerText();
    const who = await page.locator('#who').innerText();
    check('upgrade: plan Pro, subscription active, a renewal date',
          /Plan\s*Pro/i.test(facts) && /Status\s*active/i.test(facts)
          && /Renews/.test(facts) && /plan: Pro/.test(who), facts + ' / ' + who);
    check('upgrade: "Upgrade to Pro" is gone',
          await page.locator('#upgrade').isHidden(), '');
    check('upgrade: the checkout query is dropped from the address',
          page.url() === BASE + '/organizer', page.url());
    await idle(page);
    // the audit looks at what the dashboard asked for since it came back
    // (not at the fake Stripe's pages before it)
    const earlier = page.rec.requests;
    page.rec.requests = earlier.filter((r) => r.url.startsWith(BASE + '/'));
    await audit(page, 'organizer-upgraded', await page.request.get(BASE + '/organizer'),
                'desktop');
    page.rec.requests = earlier;

    // Manage billing: the customer portal, and its way back
    const [pr] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname
                                    === '/api/organizer/billing/portal'),
        page.locator('#portal').click(),
    ]);
    await page.waitForURL((u) => u.href.startsWith(STRIPE + '/p/session/'),
                          { timeout: 15000 });
    check('upgrade: "Manage billing" goes to the portal URL answered',
          pr.status() === 200 && page.url().startsWith(STRIPE + '/p/session/bps_'),
          `${pr.status()} ${page.url()}`);
    file = path.join(ART, 'stripe-portal-desktop.png');
    await page.screenshot({ path: file, fullPage: true });
    await page.locator('#return').click();
    await page.waitForURL(BASE + '/organizer', { timeout: 15000 });
    await page.waitForSelector('#dashboard:not([hidden])', { timeout: 15000 });
    check('upgrade: the portal\'s return link comes back signed in (this tab)',
          /Plan\s*Pro/i.test(await page.locator('#billing-facts').innerText()), '');
    check('upgrade: the key never went into an address',
          page.rec.requests.filter((r) => r.url.includes(FX.free_key)).length === 0, '');

    // a cancelled Checkout comes back with its own notice
    await page.goto(BASE + '/organizer?checkout=cancelled');
    await page.waitForFunction(() => /Checkout cancelled/.test(
        document.getElementById('flash').textContent), null, { timeout: 15000 });
    check('upgrade: a cancelled Checkout says nothing was charged',
          /nothing was charged/.test(await page.locator('#flash').innerText())
          && page.url() === BASE + '/organizer', page.url());
    await page.close();

    // the upgraded dashboard at phone width
    const phone = await newPage(ctxs.phone);
    await phone.goto(BASE + '/organizer');
    await signIn(phone, FX.free_key);
    await idle(phone);
    await audit(phone, 'organizer-upgraded', await phone.request.get(BASE + '/organizer'),
                'phone');
    await phone.close();
});

// ------------------------------------------------------------ audits
for (const [vn] of VIEWS) {
    await step(`dashboard audit (${vn})`, async () => {
        const page = await newPage(ctxs[vn]);
        await page.goto(BASE + '/organizer');
        await signIn(page, FX.key);
        await page.waitForSelector('figure[data-chart="per-day"] svg');
        await page.waitForSelector('#evaluations li, #review-status-line .notice');
        await idle(page);
        const resp = await page.request.get(BASE + '/organizer');
        await audit(page, 'organizer-dashboard', resp, vn);
        await page.close();
    });
}

// ------------------------------------------------------------ rotate: a key shown once
await step('rotate', async () => {
    const page = dash;
    await page.goto(BASE + '/organizer');
    await page.waitForSelector('#dashboard:not([hidden])');
    const [resp] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/api/organizer/keys/rotate'),
        page.locator('#rotate').click(),
    ]);
    await page.waitForSelector('#newkey-box:not([hidden])');
    const nk = (await page.locator('#newkey').innerText()).trim();
    check('rotate: the new key is shown once, with a warning and a copy button',
          resp.status() === 201 && /^chk_[0-9a-f]{12}_[0-9a-f]{48}$/.test(nk)
          && nk !== FX.key
          && /shown only once/.test(await page.locator('#newkey-warning').innerText())
          && await page.locator('#newkey-box button.copy').count() === 1,
          `${resp.status()} ${nk}`);
    const old = await page.request.get(BASE + '/api/organizer',
                                       { headers: { 'X-API-Key': FX.key } });
    const cur = await page.request.get(BASE + '/api/organizer',
                                       { headers: { 'X-API-Key': nk } });
    check('rotate: the old key is refused, the new one works, the tab uses it',
          old.status() === 401 && cur.status() === 200
          && await page.evaluate(() => sessionStorage.getItem('confhaven.organizer.key')) === nk,
          `${old.status()} ${cur.status()}`);
    await page.locator('#newkey-done').click();
    check('rotate: "I have stored it" removes the key from the page',
          await page.locator('#newkey-box').isHidden()
          && !(await page.content()).includes(nk), '');
    await page.reload();
    await page.waitForSelector('#dashboard:not([hidden])');
    check('rotate: the key is not shown again after a reload',
          await page.locator('#newkey-box').isHidden()
          && !(await page.locator('#main').innerText()).includes(nk), '');
    await page.locator('#signout').click();
    check('sign out: the tab forgets the key',
          await page.evaluate(() => sessionStorage.getItem('confhaven.organizer.key')) === null
          && await page.locator('#signin-box').isVisible(), '');
});

// ------------------------------------------------------------ MCP Apps
// A host played by the test: the cards document (resources/read) in a
// sandboxed iframe under the CSP the spec has hosts build from its
// _meta.ui.csp (without 'unsafe-inline': the card needs none), talking
// JSON-RPC over postMessage.
const app = FX.app || {};
function hostCsp(csp) {
    const r = (csp.resourceDomains || []).join(' ');
    const c = (csp.connectDomains || []).join(' ');
    return `default-src 'none'; script-src ${r}; style-src ${r}; `
           + `img-src ${r} data:; connect-src ${c || "'none'"}; `
           + "frame-src 'none'; object-src 'none'; base-uri 'none'";
}
for (const [vn, vp] of VIEWS) {
    await step(`mcp app (${vn})`, async () => {
        const page = await newPage(ctxs[vn]);
        const html = app.html.replace('<head>', '<head>\n<meta http-equiv='
            + '"Content-Security-Policy" content="' + hostCsp(app.csp) + '">');
        await page.setContent('<!doctype html><html lang="en"><head><title>host'
            + '</title></head><body><main><iframe id="view" title="Session cards" '
            + 'sandbox="allow-scripts" width="' + (vp.width - 20) + '" height="700">'
            + '</iframe></main></body></html>');
        await page.evaluate(({ html, search, session, zone }) => {
            const f = document.getElementById('view');
            window.__host = { got: [], links: [], initialized: false };
            window.addEventListener('message', (ev) => {
                const m = ev.data;
                if (ev.source !== f.contentWindow || !m) {
                    return;
                }
                window.__host.got.push(m.method || ('reply ' + m.id));
                const reply = (result) => f.contentWindow.postMessage(
                    { jsonrpc: '2.0', id: m.id, result }, '*');
                if (m.method === 'ui/initialize') {
                    reply({ protocolVersion: '2026-01-26',
                            hostCapabilities: { openLinks: {} },
                            hostInfo: { name: 'test-host', version: '1' },
                            hostContext: { timeZone: zone, theme: 'light' } });
                } else if (m.method === 'ui/notifications/initialized') {
                    window.__host.initialized = true;
                    f.contentWindow.postMessage({ jsonrpc: '2.0',
                        method: 'ui/notifications/tool-input',
                        params: { arguments: { query: 'pwned' } } }, '*');
                    f.contentWindow.postMessage({ jsonrpc: '2.0',
                        method: 'ui/notifications/tool-result',
                        params: search }, '*');
                } else if (m.method === 'ui/open-link') {
                    window.__host.links.push(m.params.url);
                    reply({});
                }
            });
            window.__sendSession = () => f.contentWindow.postMessage({
                jsonrpc: '2.0', method: 'ui/notifications/tool-result',
                params: session }, '*');
            f.srcdoc = html;
        }, { html, search: app.search, session: app.session, zone: ZONE });
        await page.waitForFunction(() => window.__host && window.__host.initialized,
                                   null, { timeout: 15000 });
        const frame = page.frames().find((f) => f !== page.mainFrame());
        await frame.waitForSelector('.card');
        const n = await frame.locator('ol.cards > li.card').count();
        const sessions = (app.search.structuredContent || {}).sessions || [];
        if (vn === 'desktop') {
            check('mcp app: the handshake (ui/initialize, then initialized)',
                  await page.evaluate(() => window.__host.got.slice(0, 2).join(','))
                  === 'ui/initialize,ui/notifications/initialized',
                  await page.evaluate(() => window.__host.got.join(',')));
            check('mcp app: one card per search result', n === sessions.length && n > 0,
                  `${n} cards, ${sessions.length} results`);
            const text = await frame.locator('#app').innerText();
            check('mcp app: titles, times in both zones, room and speakers as text',
                  text.includes('<img src=x onerror=') && text.includes('Asia/Tokyo')
                  && text.includes('your time, ' + ZONE) && text.includes('Hall 2'),
                  text.slice(0, 600));
            const ics = await frame.locator('a.ics').first().getAttribute('href');
            check('mcp app: "Add to calendar" links this server\'s .ics',
                  new RegExp('^' + BASE.replace(/[.]/g, '\\.')
                             + '/api/sessions/\\d+\\.ics$').test(ics), ics);
            const got = await page.request.get(ics);
            check('mcp app: the .ics link downloads a calendar',
                  got.status() === 200 && /BEGIN:VCALENDAR/.test(await got.text()),
                  got.status());
            await frame.locator('a.ics').first().click();
            await page.waitForFunction(() => window.__host.links.length > 0);
            check('mcp app: a click asks the host to open the link (ui/open-link)',
                  await page.evaluate(() => window.__host.links[0]) === ics, '');
            check('mcp app: it reports its size to the host',
                  await page.evaluate(() => window.__host.got.includes(
                      'ui/notifications/size-changed')), '');
        }
        const bad = await frame.evaluate(() => ({
            flag: window.__xss,
            elems: document.querySelectorAll('#app img, #app script, #app svg, '
                + '#app iframe, #app [onerror], #app [onload], #app b').length,
            csp: window.__csp || [],
        }));
        check(`mcp app (${vn}): the payloads stay text (no script ran, no element)`,
              bad.flag === undefined && bad.elems === 0 && page.rec.dialogs.length === 0,
              JSON.stringify(bad));
        check(`mcp app (${vn}): no script error`, page.rec.errors.length === 0,
              page.rec.errors.join('\n'));
        check(`mcp app (${vn}): it runs under the strict host CSP (no violation)`,
              page.rec.csp.length === 0, page.rec.csp.join('\n'));
        await axe(frame, `mcp app search (${vn})`);
        let file = path.join(ART, `mcp-app-search-${vn}.png`);
        await page.screenshot({ path: file, fullPage: true });
        check(`mcp app (${vn}): screenshot kept`, fs.statSync(file).size > 1000, file);

        // the session card of get_session
        await page.evaluate(() => window.__sendSession());
        await frame.waitForSelector('article.card');
        if (vn === 'desktop') {
            const ab = await frame.locator('article.card').innerText();
            check('mcp app: the session card shows the abstract, its <script> as text',
                  ab.includes('<script>window.__xss=2') && ab.includes('second paragraph'),
                  ab.slice(0, 500));
            check('mcp app: the session card has "Add to calendar"',
                  await frame.locator('article.card a.ics').count() === 1, '');
        }
        const bad2 = await frame.evaluate(() => ({ flag: window.__xss,
            elems: document.querySelectorAll('#app img, #app script, #app svg').length }));
        check(`mcp app (${vn}): the session card runs no payload`,
              bad2.flag === undefined && bad2.elems === 0, JSON.stringify(bad2));
        file = path.join(ART, `mcp-app-session-${vn}.png`);
        await page.screenshot({ path: file, fullPage: true });
        await page.close();
    });
}

await browser.close();
console.log(JSON.stringify({ checks }));
