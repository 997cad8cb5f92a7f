/* ConferenceHaven: small inline-SVG charts for the organizer dashboard
 * (no chart library).  Every label is a text node; each chart has a
 * <title> for screen readers and the same numbers as a table. */
'use strict';

var CHCharts = (function () {

    var NS = 'http://www.w3.org/2000/svg', seq = 0;

    function svg(tag, attrs, text) {
        var n = document.createElementNS(NS, tag), k;
        for (k in attrs) {
            if (Object.prototype.hasOwnProperty.call(attrs, k)) {
                n.setAttribute(k, String(attrs[k]));
            }
        }
        if (text !== undefined) {
            n.textContent = String(text);
        }
        return n;
    }

    function table(caption, head, rows) {
        var t = CH.el('table', {}, CH.el('caption', { text: caption })),
            tr = CH.el('tr');
        head.forEach(function (h) {
            tr.appendChild(CH.el('th', { scope: 'col', text: h }));
        });
        t.appendChild(CH.el('thead', {}, tr));
        var body = CH.el('tbody');
        rows.forEach(function (r) {
            var row = CH.el('tr');
            r.forEach(function (c) { row.appendChild(CH.el('td', { text: c })); });
            body.appendChild(row);
        });
        t.appendChild(body);
        return CH.el('details', { class: 'chart-table' },
                     CH.el('summary', { text: 'Show the numbers' }),
                     CH.el('div', { class: 'table-wrap', tabindex: '0',
                                    role: 'region', 'aria-label': caption },
                           t));
    }

    function frame(id, title, summary, graphic, data) {
        var fig = CH.el('figure', { class: 'chart', 'data-chart': id });
        fig.appendChild(CH.el('figcaption', { text: title }));
        if (graphic) {
            fig.appendChild(graphic);
        } else {
            fig.appendChild(CH.el('p', { class: 'muted', text: summary }));
        }
        if (data) {
            fig.appendChild(data);
        }
        return fig;
    }

    /* Horizontal bars: items [{label, value}], largest first. */
    function bars(id, title, items, unit) {
        var max = 0, rowH = 26, labelW = 0, w = 640, h, g, tid;
        items = items.slice(0, 12);
        if (!items.length) {
            return frame(id, title, 'Nothing recorded in this period.');
        }
        items.forEach(function (i) { max = Math.max(max, i.value); });
        labelW = 260;
        h = items.length * rowH + 8;
        tid = 'chart-t' + (++seq);
        g = svg('svg', { viewBox: '0 0 ' + w + ' ' + h, role: 'img',
                         'aria-labelledby': tid, class: 'bars',
                         preserveAspectRatio: 'xMinYMin meet' });
        g.appendChild(svg('title', { id: tid }, title + ': '
            + items.map(function (i) {
                return i.label + ' ' + i.value;
            }).join(', ')));
        items.forEach(function (i, k) {
            var y = 4 + k * rowH,
                bw = max ? Math.max(2, (w - labelW - 60) * i.value / max) : 2,
                label = i.label.length > 33 ? i.label.slice(0, 32) + '\u2026'
                                            : i.label;
            g.appendChild(svg('text', { x: labelW - 6, y: y + 17,
                                        'text-anchor': 'end',
                                        class: 'label' }, label));
            g.appendChild(svg('rect', { x: labelW, y: y + 3, width: bw,
                                        height: rowH - 8, rx: 3,
                                        class: 'bar' }));
            g.appendChild(svg('text', { x: labelW + bw + 6, y: y + 17,
                                        class: 'value' }, i.value));
        });
        return frame(id, title, '', g,
                     table(title, ['Item', unit || 'Count'],
                           items.map(function (i) {
                               return [i.label, i.value];
                           })));
    }

    /* Vertical bars per day: days [{day, value, extra}] (extra: a second,
     * darker part of the bar, e.g. the searches that found nothing). */
    function days(id, title, list, names) {
        var max = 0, w = 640, h = 200, pad = 28, bw, g, tid, total = 0;
        if (!list.length) {
            return frame(id, title, 'Nothing recorded in this period.');
        }
        list.forEach(function (d) {
            max = Math.max(max, d.value);
            total += d.value;
        });
        bw = (w - pad * 2) / list.length;
        tid = 'chart-t' + (++seq);
        g = svg('svg', { viewBox: '0 0 ' + w + ' ' + (h + 24), role: 'img',
                         'aria-labelledby': tid, class: 'days',
                         preserveAspectRatio: 'xMinYMin meet' });
        g.appendChild(svg('title', { id: tid }, title + ': ' + total
            + ' ' + names[0] + ' from ' + list[0].day + ' to '
            + list[list.length - 1].day + ', at most ' + max + ' a day'));
        g.appendChild(svg('line', { x1: pad, y1: h, x2: w - pad, y2: h,
                                    class: 'axis' }));
        g.appendChild(svg('text', { x: 2, y: 12, class: 'value' }, max));
        list.forEach(function (d, k) {
            var x = pad + k * bw, bh = max ? (h - 16) * d.value / max : 0,
                eh = max ? (h - 16) * (d.extra || 0) / max : 0;
            if (bh > 0) {
                g.appendChild(svg('rect', { x: x + 1, y: h - bh,
                                            width: Math.max(1, bw - 2),
                                            height: bh, class: 'bar' }));
            }
            if (eh > 0) {
                g.appendChild(svg('rect', { x: x + 1, y: h - eh,
                                            width: Math.max(1, bw - 2),
                                            height: eh, class: 'bar extra' }));
            }
        });
        g.appendChild(svg('text', { x: pad, y: h + 18, class: 'label' },
                          list[0].day));
        g.appendChild(svg('text', { x: w - pad, y: h + 18, class: 'label',
                                    'text-anchor': 'end' },
                          list[list.length - 1].day));
        return frame(id, title, '', g,
                     table(title, ['Day'].concat(names),
                           list.map(function (d) {
                               return [d.day, d.value, d.extra || 0];
                           })));
    }

    return { bars: bars, days: days };
})();
