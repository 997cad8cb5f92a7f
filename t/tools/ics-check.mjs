// ics-check.mjs FILE... — parse iCalendar files with ical.js (pinned in
// t/tools/package.json) and print one JSON document: for each file, the
// wire checks (CRLF only, content lines of at most 75 octets, each
// physical line valid UTF-8 on its own, a VTIMEZONE for every TZID) and
// its events as ical.js reads them, with the UTC instants of DTSTART and
// DTEND.  Exit 0 with the JSON even when a check fails: the test decides.
import { readFileSync } from 'node:fs';
import ICAL from 'ical.js';

const out = [];
const dec = new TextDecoder('utf-8', { fatal: true });

for (const file of process.argv.slice(2)) {
    const r = { file, problems: [], events: [], timezones: [] };
    const bytes = readFileSync(file);

    /* the wire: split on CRLF, look at every physical line */
    const text = bytes.toString('latin1');
    if (!text.endsWith('\r\n')) r.problems.push('does not end with CRLF');
    const lines = text.split('\r\n');
    lines.pop();
    r.max_octets = 0;
    lines.forEach((l, i) => {
        const b = Buffer.from(l, 'latin1');
        if (b.length > r.max_octets) r.max_octets = b.length;
        if (b.length > 75) r.problems.push(`line ${i + 1} has ${b.length} octets`);
        if (l.includes('\n') || l.includes('\r'))
            r.problems.push(`line ${i + 1} has a bare CR or LF`);
        try { dec.decode(b); }
        catch (e) { r.problems.push(`line ${i + 1} is not valid UTF-8 by itself`); }
    });
    r.lines = lines.length;

    try {
        const comp = new ICAL.Component(ICAL.parse(dec.decode(bytes)));
        r.name = comp.name;
        r.version = comp.getFirstPropertyValue('version');
        r.prodid = comp.getFirstPropertyValue('prodid');
        const zones = {};
        for (const vtz of comp.getAllSubcomponents('vtimezone')) {
            const tz = new ICAL.Timezone(vtz);
            ICAL.TimezoneService.register(tz);
            zones[tz.tzid] = 1;
            r.timezones.push(tz.tzid);
        }
        for (const ev of comp.getAllSubcomponents('vevent')) {
            const e = {};
            for (const p of ['uid', 'sequence', 'summary', 'description',
                             'location', 'url']) {
                const v = ev.getFirstPropertyValue(p);
                e[p] = v === null ? null : String(v);
            }
            e.dtstamp = ev.getFirstPropertyValue('dtstamp').toString();
            for (const p of ['dtstart', 'dtend']) {
                const prop = ev.getFirstProperty(p);
                if (!prop) { e[p] = null; continue; }
                const tzid = prop.getParameter('tzid');
                const t = prop.getFirstValue();
                if (tzid && !zones[tzid])
                    r.problems.push(`${p} TZID=${tzid} has no VTIMEZONE`);
                if (!tzid && t.zone !== ICAL.Timezone.utcTimezone)
                    r.problems.push(`${p} is a floating time`);
                e[p] = t.toJSDate().toISOString();
                e[p + '_tzid'] = tzid || null;
                e[p + '_local'] = t.toString();
            }
            r.events.push(e);
        }
    } catch (err) {
        r.problems.push('ical.js: ' + err.message);
    }
    out.push(r);
}

process.stdout.write(JSON.stringify(out, null, 1) + '\n');
