/* My agenda: the starred sessions (localStorage), by day, with clashes,
 * and a subscribable feed from POST /api/agendas. */
'use strict';

(function () {
    var el = CH.el;
    var box = document.getElementById('agenda');
    var summary = document.getElementById('clash-summary');
    var feedBox = document.getElementById('feed');
    var feedButton = document.getElementById('feed-button');

    function sorted(list) {
        return list.slice().sort(function (a, b) {
            return (Date.parse(a.start) || Infinity)
                   - (Date.parse(b.start) || Infinity) || a.id - b.id;
        });
    }

    function render() {
        var list = sorted(CH.agendaLoad()), clash = CH.agendaClashes(list);
        var n = Object.keys(clash).length, day = null, ul = null;
        CH.clear(box);
        CH.clear(summary);
        feedButton.disabled = !list.length;
        if (!list.length) {
            box.appendChild(el('p', { class: 'muted' },
                'Nothing starred yet. ',
                el('a', { href: '/search', text: 'Search sessions' }),
                ' and press \u201cAdd to my agenda\u201d.'));
            return;
        }
        if (n) {
            summary.appendChild(el('p', { class: 'notice warn',
                text: n + ' of your ' + list.length + ' sessions overlap '
                      + 'another one.' }));
        }
        list.forEach(function (s) {
            var d = s.start ? new Intl.DateTimeFormat(undefined, {
                weekday: 'long', day: 'numeric', month: 'long',
                year: 'numeric', timeZone: s.timezone
            }).format(new Date(s.start)) : 'Time not announced';
            if (d !== day) {
                day = d;
                box.appendChild(el('h2', { text: d }));
                ul = el('ol', { class: 'results' });
                box.appendChild(ul);
            }
            ul.appendChild(el('li', { 'data-id': s.id },
                el('h3', null, el('a', { href: '/session?id=' + s.id,
                                         text: s.title })),
                el('p', { class: 'meta', text: [
                    (s.speakers || []).join(', '), s.room, s.conference
                ].filter(Boolean).join(' \u00b7 ') }),
                CH.times(s),
                clash[s.id] ? el('p', { class: 'clash',
                    text: '\u26a0 Clashes with ' + clash[s.id].map(function (x) {
                        return '\u201c' + x.title + '\u201d';
                    }).join(', ') }) : null,
                el('p', { class: 'actions' },
                   el('a', { href: '/api/sessions/' + s.id + '.ics',
                             class: 'button',
                             download: 'session-' + s.id + '.ics',
                             text: 'Add to calendar' }),
                   el('button', { type: 'button', class: 'unstar',
                                  'aria-label': 'Remove \u201c' + s.title
                                                + '\u201d from my agenda',
                                  onclick: function () {
                                      CH.agendaToggle(s);
                                      render();
                                      feedButton.focus();
                                  },
                                  text: 'Remove' }))));
        });
    }

    function showFeed(f) {
        var url = new URL(f.ics_url, window.location.href);
        var code = el('code', { text: url.href });
        CH.clear(feedBox).appendChild(el('div', { class: 'notice ok' },
            el('p', { text: 'Your feed: subscribe to this address in your '
                            + 'calendar app. It follows your stars: what '
                            + 'you add or remove here changes the feed.' }),
            el('div', { class: 'snippet' },
               el('pre', null, code), CH.copyButton(code, 'Copy')),
            el('p', null,
               el('a', { id: 'webcal',
                         href: url.href.replace(/^https?:/, 'webcal:'),
                         text: 'Open in my calendar app' }),
               ' \u00b7 ',
               el('a', { href: url.href, text: 'Download (.ics)' }),
               ' \u00b7 ',
               el('button', { type: 'button', id: 'feed-delete',
                              onclick: deleteFeed,
                              text: 'Delete the feed' }))));
        feedButton.textContent = 'Create a new calendar feed';
    }

    function deleteFeed() {
        var f = CH.feedLoad();
        if (!f) {
            return;
        }
        fetch('/api/agendas/' + encodeURIComponent(f.token),
              { method: 'DELETE' }).then(function (r) {
            if (r.ok || r.status === 404) {
                CH.feedSave(null);
                feedButton.textContent = 'Create a calendar feed';
                CH.clear(feedBox).appendChild(el('p', {
                    class: 'notice', text: 'The feed is deleted.' }));
                feedButton.focus();
            } else {
                CH.clear(feedBox).appendChild(el('p', { class: 'notice error',
                    text: 'Could not delete the feed (the server answered '
                          + r.status + ').' }));
            }
        }).catch(function (e) {
            CH.clear(feedBox).appendChild(el('p', { class: 'notice error',
                text: 'Could not reach the server: ' + e.message }));
        });
    }

    feedButton.addEventListener('click', function () {
        var ids = CH.agendaLoad().map(function (s) { return s.id; });
        feedButton.disabled = true;
        CH.clear(feedBox).appendChild(el('p', { text: 'Creating the feed\u2026' }));
        CH.postJSON('/api/agendas', { session_ids: ids }).then(function (r) {
            var b = r.body || {};
            if (r.ok && typeof b.ics_url === 'string'
                && typeof b.token === 'string')
            {
                CH.feedSave(b);
                showFeed(b);
            } else if (r.status === 404 || r.status === 405) {
                CH.clear(feedBox).appendChild(el('p', { class: 'notice warn',
                    text: 'This server does not offer agenda feeds yet. '
                          + 'Use \u201cAdd to calendar\u201d on each session.' }));
            } else {
                CH.clear(feedBox).appendChild(el('p', { class: 'notice error',
                    text: 'Could not create the feed: '
                          + ((b.error && b.error.message)
                             || 'the server answered ' + r.status) }));
            }
        }).catch(function (e) {
            CH.clear(feedBox).appendChild(el('p', { class: 'notice error',
                text: 'Could not reach the server: ' + e.message }));
        }).then(function () {
            feedButton.disabled = !CH.agendaLoad().length;
        });
    });

    if (CH.feedLoad()) {
        showFeed(CH.feedLoad());
    }
    document.addEventListener('agenda-changed', render);
    window.addEventListener('storage', render);
    render();
})();
