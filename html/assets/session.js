/* Session page: /session?id=N (also /sessions/N). */
'use strict';

(function () {
    var el = CH.el;
    var box = document.getElementById('session');
    var id = new URLSearchParams(window.location.search).get('id');
    var m = window.location.pathname.match(/^\/sessions\/(\d+)$/);

    if (m) {
        id = m[1];
    }

    function paras(text) {
        return String(text).replace(/\r\n?/g, '\n').split(/\n\s*\n/)
            .filter(function (p) { return p.trim() !== ''; })
            .map(function (p) { return el('p', { text: p.trim() }); });
    }

    function fact(dt, dd) {
        return dd ? [el('dt', { text: dt }), el('dd', null, dd)] : [];
    }

    function clashes(s) {
        var note = document.getElementById('clash-note');
        var c = CH.agendaClashes(CH.agendaLoad())[s.id];
        CH.clear(note);
        if (c && CH.agendaHas(s.id)) {
            note.appendChild(el('p', { class: 'clash',
                text: '\u26a0 Clashes with ' + c.map(function (x) {
                    return '\u201c' + x.title + '\u201d';
                }).join(', ') + ' in your agenda.' }));
        }
    }

    function render(s) {
        var speakers = (s.speakers_detail && s.speakers_detail.length)
            ? s.speakers_detail
            : (s.speakers || []).map(function (n) { return { name: n }; });
        var dl = el('dl', { class: 'facts' },
            fact('Conference', el('a', {
                href: '/search?conference=' + encodeURIComponent(s.conference)
                      + '&include_past=true',
                text: s.conference_name || s.conference })),
            fact('Speakers', speakers.length
                ? speakers.map(function (p) { return p.name; }).join(', ')
                : null),
            fact('Room', s.room),
            fact('Track', s.track),
            fact('Level', s.level_detail || s.level),
            fact('Format', s.format),
            fact('Language', s.language),
            fact('Tags', s.tags && s.tags.length ? s.tags.join(', ') : null));
        var ics = '/api/sessions/' + encodeURIComponent(s.id) + '.ics';

        document.title = s.title + ' \u00b7 ConferenceHaven';
        CH.clear(box).appendChild(el('article', null,
            el('h1', { text: s.title }),
            s.subtitle ? el('p', { class: 'lead', text: s.subtitle }) : null,
            CH.times(s),
            el('div', { class: 'actions' },
               el('a', { class: 'button primary', id: 'ics', href: ics,
                         download: 'session-' + s.id + '.ics',
                         text: 'Add to calendar (.ics)' }),
               CH.starButton(s, function () { clashes(s); })),
            el('div', { id: 'clash-note', 'aria-live': 'polite' }),
            dl,
            el('h2', { text: 'Abstract' }),
            el('div', { class: 'abstract' },
               s.abstract ? paras(s.abstract)
                          : el('p', { class: 'muted',
                                      text: 'No abstract published.' })),
            speakers.some(function (p) { return p.bio; })
                ? [el('h2', { text: 'Speakers' }),
                   speakers.map(function (p) {
                       return el('section', { class: 'speaker' },
                           el('h3', { text: p.name }),
                           p.bio ? paras(p.bio) : null);
                   })]
                : null));
        clashes(s);
        document.getElementById('invite-box').hidden = false;
        invite(s);
    }

    function invite(s) {
        var form = document.getElementById('invite');
        var out = document.getElementById('invite-status');
        var email = document.getElementById('invite-email');
        var busy = false;

        function say(kind, text, link) {
            CH.clear(out).appendChild(el('p', { class: 'notice ' + kind },
                text, link ? el('a', { href: link, text: ' Download the '
                                       + 'invitation (.ics)' }) : null));
        }

        form.addEventListener('submit', function (ev) {
            ev.preventDefault();
            if (busy) {
                return;
            }
            if (!email.value.trim() || !email.checkValidity()) {
                email.setAttribute('aria-invalid', 'true');
                say('error', 'Please enter a valid email address.');
                email.focus();
                return;
            }
            email.removeAttribute('aria-invalid');
            busy = true;
            say('', 'Sending\u2026');
            CH.postJSON('/api/sessions/' + encodeURIComponent(s.id)
                        + '/invite', { user_email: email.value.trim() })
                .then(function (r) {
                    var b = r.body || {}, link = typeof b.ics_url === 'string'
                                                 ? b.ics_url : null;
                    if (r.ok && b.status === 'sent') {
                        say('ok', 'Invitation sent to ' + email.value.trim()
                                  + '.', link);
                    } else if (r.ok && b.status === 'already_sent') {
                        say('ok', 'An invitation for this session was '
                                  + 'already sent to this address.', link);
                    } else if (r.ok && b.status === 'not_configured') {
                        say('warn', 'This server does not send email. '
                                    + 'Add the session to your calendar '
                                    + 'instead.', link || '/api/sessions/'
                                    + s.id + '.ics');
                    } else if (r.ok) {
                        say('ok', 'Done.', link);
                    } else {
                        say('error', (b.error && b.error.message)
                            ? 'Could not send the invitation: '
                              + b.error.message
                            : 'Could not send the invitation (the server '
                              + 'answered ' + r.status + ').');
                    }
                })
                .catch(function (e) {
                    say('error', 'Could not reach the server: ' + e.message);
                })
                .then(function () { busy = false; });
        });
    }

    if (!id || !/^\d+$/.test(id)) {
        CH.clear(box).appendChild(el('div', null,
            el('h1', { text: 'Session' }),
            el('p', { class: 'notice error' },
               'No session given. ', el('a', { href: '/search',
                                               text: 'Search sessions' }))));
        return;
    }

    CH.getJSON('/api/sessions/' + id).then(render).catch(function (e) {
        CH.clear(box).appendChild(el('div', null,
            el('h1', { text: 'Session not found' }),
            el('p', { class: 'notice error', text: e.message }),
            el('p', null, el('a', { href: '/search',
                                    text: 'Search sessions' }))));
    });
})();
