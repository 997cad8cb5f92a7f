#!/usr/bin/perl

# Personal agendas (issue 9): POST /api/agendas gives an unguessable token
# (base64url, 43 characters, only its SHA-256 stored) and the feed URL;
# GET/PUT/DELETE /api/agendas/{token}; GET /api/agendas/{token}.ics is one
# VCALENDAR that ical.js reads, with a VEVENT per scheduled session (UTC
# instants as in the database) and a VTIMEZONE per zone, built at read time
# (a re-import shows at once); unknown or deleted tokens are 404; bad
# bodies (malformed JSON, wrong types, unknown fields, too many ids,
# unknown ids, empty, not UTF-8, wrong content type, too large, chunked
# too large) get a clear 4xx; wrong methods 405 with Allow.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;

use ConfHaven::Test;
use ConfHaven::Ics;


plan(skip_all => ConfHaven::Ics::why()) unless ConfHaven::Ics::available();

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(12);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;

    error_page 400 404 405 413 414 500 502 503 504 /.confhaven-error;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }

    location = /.confhaven-error {
        internal;
        confhaven_json_errors on;
    }
}
EOF
$t->run();

my $err = ConfHaven::Ics::install();
BAIL_OUT("cannot install ical.js: $err") if $err;

my $JSON = JSON::PP->new->utf8->canonical;

sub why { my ($r) = @_; diag('status ' . ($r->{status} // 'none') . ': '
                             . substr($r->{body} // '', 0, 600)) }

sub q_ { my ($s) = @_; $s =~ s/'/''/g; return "'$s'" }

sub import_doc {
    my ($slug, $tz, $sessions) = @_;
    my $f = $t->write_file("$slug.json", ConfHaven::Ics::sessionize($sessions));
    return $t->import_file($slug, $f, name => "Conf $slug", timezone => $tz);
}

sub sid {
    my ($slug, $ext) = @_;
    return $t->psql('SELECT s.id FROM confhaven.sessions s JOIN confhaven.conferences c'
                    . ' ON c.id = s.conference_id WHERE c.slug = ' . q_($slug)
                    . ' AND s.external_id = ' . q_($ext));
}

sub utc {
    my ($id) = @_;
    return $t->psql("SELECT to_char(start_at AT TIME ZONE 'UTC',"
                    . " 'YYYY-MM-DD\"T\"HH24:MI:SS.000\"Z\"')"
                    . " FROM confhaven.sessions WHERE id = $id");
}

sub send_body {
    my ($method, $path, $body, %o) = @_;
    return $t->http($method, $path, body => $body,
                    content_type => $o{content_type} // 'application/json', %o);
}

sub post { my ($data, %o) = @_; send_body('POST', '/api/agendas', ref $data ? $JSON->encode($data) : $data, %o) }

sub emsg { my ($r) = @_; ref $r->{json} eq 'HASH' ? $r->{json}{error}{message} // '' : '' }


# ---- data

my @berlin = (
    { id => 'b1', title => 'Berlin summer', start => '2026-07-15T14:00:00', end => '2026-07-15T15:00:00' },
    { id => 'b2', title => 'Berlin winter', start => '2026-12-15T09:00:00', end => '2026-12-15T10:00:00' },
    { id => 'b3', title => 'Berlin unscheduled' },
);
my @kolkata = (
    { id => 'k1', title => 'Kolkata', start => '2026-07-20T11:00:00', end => '2026-07-20T12:00:00' },
);

is(import_doc('berlin-2026', 'Europe/Berlin', \@berlin)->{status}, 200, 'import Berlin');
is(import_doc('kolkata-2026', 'Asia/Kolkata', \@kolkata)->{status}, 200, 'import Kolkata');

my ($b1, $b2, $b3, $k1) = (sid('berlin-2026', 'b1'), sid('berlin-2026', 'b2'),
                           sid('berlin-2026', 'b3'), sid('kolkata-2026', 'k1'));


# ---- create, read, feed

my ($token, $r);

subtest 'create' => sub {
    plan(tests => 9);
    $r = post({ session_ids => [$b1, "$k1", $b2, $b1, $b3] });
    is($r->{status}, 201, '201 Created') or why($r);
    like($r->{headers}{'content-type'}, qr{^application/json}, 'JSON');
    my $j = $r->{json} // {};
    $token = $j->{token} // '';
    like($token, qr/^[A-Za-z0-9_-]{43}$/, 'token: 43 base64url characters (256 bits)');
    is($j->{ics_url}, "/api/agendas/$token.ics", 'ics_url');
    is_deeply($j->{session_ids}, [$b1, $k1, $b2, $b3], 'ids as numbers, duplicates dropped, order kept');
    is($t->psql("SELECT count(*) FROM confhaven.agendas WHERE token_hash = sha256(" . q_($token) . "::bytea)"),
       1, 'the table keeps the token\'s SHA-256');
    is($t->psql("SELECT count(*) FROM confhaven.agendas a WHERE a::text LIKE " . q_("%$token%")),
       0, 'and not the token');
    my $r2 = post({ session_ids => [$b1] });
    isnt($r2->{json}{token}, $token, 'a second agenda: another token');
    my $r3 = post({ session_ids => [] });
    is($r3->{status}, 201, 'an empty agenda is fine');
};

subtest 'read' => sub {
    plan(tests => 5);
    $r = $t->get_json("/api/agendas/$token");
    is($r->{status}, 200, 'GET 200') or why($r);
    is_deeply($r->{json}{session_ids}, [$b1, $k1, $b2, $b3], 'session_ids');
    is_deeply([map { $_->{id} } @{ $r->{json}{sessions} // [] }], [$b1, $k1, $b2, $b3], 'sessions');
    is($r->{json}{sessions}[0]{ics_url}, "/api/sessions/$b1.ics", 'a session\'s own .ics');
    is_deeply($r->{json}{missing}, [], 'none missing');
};

subtest 'feed: one VCALENDAR, every scheduled session, a VTIMEZONE per zone' => sub {
    plan(tests => 11);
    $r = $t->http('GET', "/api/agendas/$token.ics");
    is($r->{status}, 200, 'status 200') or why($r);
    is($r->{headers}{'content-type'}, 'text/calendar; charset=utf-8', 'text/calendar');
    my $x = ConfHaven::Ics::check($t, $r->{body})->[0];
    is_deeply($x->{problems}, [], 'ical.js reads it; wire rules') or diag(explain($x));
    my @ev = @{ $x->{events} };
    is_deeply([map { $_->{uid} } @ev],
              ["$b1\@berlin-2026.confhaven", "$k1\@kolkata-2026.confhaven", "$b2\@berlin-2026.confhaven"],
              'the scheduled sessions in time order (the unscheduled one left out)');
    is_deeply([sort @{ $x->{timezones} }], ['Asia/Kolkata', 'Europe/Berlin'], 'VTIMEZONEs');
    is($ev[0]{dtstart}, utc($b1), 'Berlin summer instant');
    is($ev[0]{dtstart}, '2026-07-15T12:00:00.000Z', 'Berlin summer: +02:00');
    is($ev[1]{dtstart}, utc($k1), 'Kolkata instant');
    is($ev[2]{dtstart}, '2026-12-15T08:00:00.000Z', 'Berlin winter: +01:00');
    like($r->{body}, qr/\r\nNAME:ConferenceHaven agenda\r\n/, 'calendar NAME');
    like($r->{body}, qr/\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n/, 'REFRESH-INTERVAL');
};


# ---- replace, re-import, delete

subtest 'replace, and the feed follows a re-import' => sub {
    plan(tests => 8);
    $r = send_body('PUT', "/api/agendas/$token", $JSON->encode({ session_ids => [$b2] }));
    is($r->{status}, 200, 'PUT 200') or why($r);
    is_deeply($r->{json}{session_ids}, [$b2], 'answer: the new list');
    is_deeply($t->get_json("/api/agendas/$token")->{json}{session_ids}, [$b2], 'GET: the new list');
    my $x = ConfHaven::Ics::check($t, $t->http('GET', "/api/agendas/$token.ics")->{body})->[0];
    is_deeply([map { $_->{uid} } @{ $x->{events} }], ["$b2\@berlin-2026.confhaven"], 'feed: one event');

    my @changed = map { { %$_ } } @berlin;
    $changed[1]{title} = 'Berlin winter, moved';
    $changed[1]{start} = '2026-12-16T09:00:00';
    $changed[1]{end} = '2026-12-16T10:00:00';
    is(import_doc('berlin-2026', 'Europe/Berlin', \@changed)->{status}, 200, 're-import');
    $x = ConfHaven::Ics::check($t, $t->http('GET', "/api/agendas/$token.ics")->{body})->[0];
    my $e = $x->{events}[0] // {};
    is($e->{summary}, 'Berlin winter, moved', 'feed: the new title');
    is($e->{dtstart}, '2026-12-16T08:00:00.000Z', 'feed: the new time');
    is($e->{sequence}, 1, 'feed: SEQUENCE 1');
};

subtest 'a session a re-import removed' => sub {
    plan(tests => 3);
    my $r0 = post({ session_ids => [$k1] });
    my $tk = $r0->{json}{token};
    is(import_doc('kolkata-2026', 'Asia/Kolkata',
                  [{ id => 'k2', title => 'Other', start => '2026-07-21T11:00:00',
                     end => '2026-07-21T12:00:00' }])->{status}, 200, 're-import without k1');
    is_deeply($t->get_json("/api/agendas/$tk")->{json}{missing}, [$k1], 'listed as missing');
    my $x = ConfHaven::Ics::check($t, $t->http('GET', "/api/agendas/$tk.ics")->{body})->[0];
    is(scalar @{ $x->{events} }, 0, 'feed: no event, still a calendar');
};

subtest 'delete' => sub {
    plan(tests => 7);
    $r = $t->http('DELETE', "/api/agendas/$token");
    is($r->{status}, 204, 'DELETE 204') or why($r);
    is($r->{body}, '', 'no body');
    is($t->get_json("/api/agendas/$token")->{status}, 404, 'GET after: 404');
    is($t->http('GET', "/api/agendas/$token.ics")->{status}, 404, 'feed after: 404');
    is($t->http('DELETE', "/api/agendas/$token")->{status}, 404, 'DELETE again: 404');
    is(send_body('PUT', "/api/agendas/$token", '{"session_ids":[]}')->{status}, 404, 'PUT after: 404');
    is($t->psql("SELECT count(*) FROM confhaven.agendas WHERE token_hash = sha256(" . q_($token) . "::bytea)"),
       0, 'row gone');
};

subtest 'unknown tokens' => sub {
    plan(tests => 6);
    my $fake = 'A' x 43;
    $r = $t->get_json("/api/agendas/$fake");
    is($r->{status}, 404, 'unknown token: 404');
    like(emsg($r), qr/no agenda with this token/, 'clear message');
    unlike($r->{body}, qr/$fake/, 'the token is not echoed');
    is($t->http('GET', "/api/agendas/$fake.ics")->{status}, 404, 'unknown feed: 404');
    is($t->get_json('/api/agendas/not!a%20token')->{status}, 404, 'not a token: 404');
    is($t->get_json('/api/agendas/' . ('A' x 200))->{status}, 404, 'too long: 404');
};


# ---- bad bodies

subtest 'bad bodies: clear 4xx' => sub {
    my @cases = (
        ['{"session_ids": [1,',            400, qr/not valid JSON/, 'malformed JSON'],
        ['[1, 2]',                         400, qr/must be a JSON object/, 'an array'],
        ['"x"',                            400, qr/must be a JSON object/, 'a string'],
        ['{}',                             400, qr/"session_ids" is missing/, 'no session_ids'],
        ['{"session_ids": "1"}',           400, qr/must be an array/, 'session_ids a string'],
        ['{"session_ids": {"a": 1}}',      400, qr/must be an array/, 'session_ids an object'],
        ['{"session_ids": [true]}',        400, qr/session_ids\[0\] is not a session id/, 'a boolean'],
        ['{"session_ids": [1, 2.5]}',      400, qr/session_ids\[1\]/, 'a fraction'],
        ['{"session_ids": [0]}',           400, qr/not a session id/, 'zero'],
        ['{"session_ids": [-3]}',          400, qr/not a session id/, 'negative'],
        ['{"session_ids": ["12a"]}',       400, qr/not a session id/, 'not digits'],
        ['{"session_ids": [null]}',        400, qr/not a session id/, 'null'],
        ['{"session_ids": [1], "x": 2}',   400, qr/unknown field "x"/, 'unknown field'],
        ['{"session_ids": [999999, 888888]}', 400, qr/no session with id 999999, 888888/, 'unknown ids'],
        ['{"session_ids": [' . join(',', ($b1) x 201) . ']}', 400, qr/has 201 entries; .*at most 200/,
         '201 ids'],
        ['',                               400, qr/empty/, 'empty body'],
        ["{\"session_ids\": [\"\xff\"]}",  400, qr/not valid UTF-8/, 'not UTF-8'],
    );
    plan(tests => 2 * @cases + 12);

    for my $c (@cases) {
        my ($body, $status, $re, $name) = @$c;
        my $r = post($body);
        is($r->{status}, $status, "$name: $status") or why($r);
        like(emsg($r), $re, "$name: message");
    }

    $r = post(' ' x 20000);
    is($r->{status}, 413, 'a 20 KB body: 413');
    like(emsg($r), qr/at most 16384/, '413: the limit');

    my $big = '{"session_ids": [1]}' . (' ' x 20000);
    my $chunked = sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big);
    $r = $t->raw("POST /api/agendas HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                 . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n$chunked");
    is($r->{status}, 413, 'a chunked body over 16 KiB: 413') or why($r);

    $r = post('x' x (2 * 1024 * 1024));
    is($r->{status}, 413, 'a 2 MB body: 413');

    $r = post('{"session_ids": [1]}', content_type => 'text/plain');
    is($r->{status}, 415, 'text/plain: 415');

    $r = $t->http('POST', '/api/agendas', body => "{\"session_ids\": [$b1]}");
    is($r->{status}, 201, 'no content type: accepted');

    $r = post("{\"session_ids\": [$b1]}", content_type => 'application/json; charset=utf-8');
    is($r->{status}, 201, 'application/json; charset=utf-8: accepted');

    $r = $t->http('POST', '/api/agendas?x=1', body => "{\"session_ids\": [$b1]}",
                  content_type => 'application/json');
    is($r->{status}, 400, 'a query string: 400');

    $r = post({ session_ids => [map { "$b1" } 1 .. 200] });
    is($r->{status}, 201, '200 ids (the same one): 201');

    my $t2 = post({ session_ids => [$b1] })->{json}{token};
    $r = send_body('PUT', "/api/agendas/$t2", 'nope');
    is($r->{status}, 400, 'PUT malformed: 400');
    is_deeply($t->get_json("/api/agendas/$t2")->{json}{session_ids}, [$b1], 'a refused PUT changes nothing');
    $r = send_body('PUT', "/api/agendas/$t2", '{"session_ids": [1]}', content_type => 'text/csv');
    is($r->{status}, 415, 'PUT text/csv: 415');
};

subtest 'methods' => sub {
    plan(tests => 6);
    $r = $t->http('GET', '/api/agendas');
    is($r->{status}, 405, 'GET /api/agendas: 405');
    is($r->{headers}{allow}, 'POST', 'Allow: POST');
    my $tk = post({ session_ids => [$b1] })->{json}{token};
    $r = $t->http('PATCH', "/api/agendas/$tk", body => '{}');
    is($r->{status}, 405, 'PATCH: 405');
    is($r->{headers}{allow}, 'GET, HEAD, PUT, DELETE', 'Allow: GET, HEAD, PUT, DELETE');
    $r = $t->http('PUT', "/api/agendas/$tk.ics", body => '{}');
    is($r->{status}, 405, 'PUT on the feed: 405');
    is($r->{headers}{allow}, 'GET, HEAD', 'feed Allow: GET, HEAD');
};

subtest 'OpenAPI documents the agenda routes' => sub {
    plan(tests => 5);
    my $p = $t->get_json('/api/openapi.json')->{json}{paths} // {};
    is($p->{'/api/agendas'}{post}{operationId}, 'createAgenda', 'createAgenda');
    is($p->{'/api/agendas/{token}'}{get}{operationId}, 'getAgenda', 'getAgenda');
    is($p->{'/api/agendas/{token}'}{put}{operationId}, 'replaceAgenda', 'replaceAgenda');
    is($p->{'/api/agendas/{token}'}{delete}{operationId}, 'deleteAgenda', 'deleteAgenda');
    is($p->{'/api/agendas/{token}.ics'}{get}{operationId}, 'getAgendaIcs', 'getAgendaIcs');
};
