#!/usr/bin/perl

# GET /api/sessions/{id}.ics and the MCP resource confhaven://sessions/{id}.ics
# (issue 9): every file parses with ical.js (t/tools/ics-check.mjs), has
# CRLF line ends, lines of at most 75 octets that are valid UTF-8 on their
# own, one VEVENT with a stable UID, and DTSTART/DTEND whose UTC instants
# are the session's in the database: Europe/Berlin in summer (+02:00) and
# winter (+01:00) with a VTIMEZONE of the real offsets, the repeated hour
# when Berlin's clocks go back, Asia/Kolkata (no DST) and a UTC
# conference; TEXT escaping (, ; \ newline) and folding of a long
# multibyte abstract; SEQUENCE grows after a re-import that changes the
# title and stays after an identical one (the cache forgets the file at
# each import); the schedule's own URL or ours; unknown id 404, bad id
# 400, unscheduled session 404, HEAD, a wrong method 405.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Encode ();
use JSON::PP;
use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;
use ConfHaven::Ics;


plan(skip_all => ConfHaven::Ics::why()) unless ConfHaven::Ics::available();

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(15);

# a Redis of this file: cache keys name session ids of this file's database
$t->private_redis();

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;

server {
    listen 127.0.0.1:%%PORT_1%%;

    error_page 400 404 405 413 414 500 502 503 504 /.confhaven-error;

    location /mcp {
        confhaven_mcp on;
    }

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        add_header X-Cache-Status $confhaven_cache_status always;
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

# a Sessionize file imported as slug in zone tz
sub import_doc {
    my ($slug, $tz, $sessions, $speakers) = @_;
    my $f = $t->write_file("$slug.json", ConfHaven::Ics::sessionize($sessions, $speakers));
    return $t->import_file($slug, $f, name => "Conf $slug", timezone => $tz,
                           location => 'Messe Berlin, Messedamm 22');
}

# external id => session id
sub sid {
    my ($slug, $ext) = @_;
    return $t->psql('SELECT s.id FROM confhaven.sessions s JOIN confhaven.conferences c'
                    . ' ON c.id = s.conference_id WHERE c.slug = ' . q_($slug)
                    . ' AND s.external_id = ' . q_($ext));
}

# the session's start/end in UTC as ical.js prints it (toISOString)
sub utc {
    my ($id, $col) = @_;
    return $t->psql("SELECT to_char($col AT TIME ZONE 'UTC',"
                    . " 'YYYY-MM-DD\"T\"HH24:MI:SS.000\"Z\"')"
                    . " FROM confhaven.sessions WHERE id = $id");
}

sub ics { my ($id, %o) = @_; return $t->http('GET', "/api/sessions/$id.ics", %o) }


# ---- data: Berlin (DST), Kolkata (no DST), UTC

my $TITLE = 'Scaling C, nginx; and MCP \\ a "backslash" talk';
my $LONG = join ' ', map { "Grüße aus Köln — 日本語のテキスト №$_ ✓ \\ ; ," } 1 .. 60;

my @berlin = (
    { id => 'summer', title => $TITLE, description => "First line\nSecond line",
      start => '2026-07-15T14:00:00', end => '2026-07-15T14:45:00', speakers => ['a'] },
    { id => 'winter', title => 'Winter talk', description => $LONG,
      start => '2026-12-15T09:30:00', end => '2026-12-15T10:15:00', speakers => ['a', 'b'] },
    # 02:30 happens twice on 25 October 2026 in Berlin
    { id => 'fallback', title => 'Clocks go back',
      start => '2026-10-25T02:30:00', end => '2026-10-25T03:30:00' },
    { id => 'unscheduled', title => 'Not yet scheduled' },
);
my %speakers = (a => 'Jürgen Müller', b => 'Lee, Ann');

subtest 'imports' => sub {
    plan(tests => 3);
    my $r = import_doc('berlin-2026', 'Europe/Berlin', \@berlin, \%speakers);
    is($r->{status}, 200, 'Europe/Berlin conference') or why($r);
    $r = import_doc('kolkata-2026', 'Asia/Kolkata',
                    [{ id => 'k1', title => 'Monsoon talk',
                       start => '2026-07-20T11:00:00', end => '2026-07-20T12:00:00' }]);
    is($r->{status}, 200, 'Asia/Kolkata conference') or why($r);
    $r = import_doc('utc-2026', 'UTC',
                    [{ id => 'u1', title => 'UTC talk',
                       start => '2026-03-29T01:30:00', end => '2026-03-29T02:00:00' }]);
    is($r->{status}, 200, 'UTC conference') or why($r);
};

my %id = (summer => sid('berlin-2026', 'summer'), winter => sid('berlin-2026', 'winter'),
          fallback => sid('berlin-2026', 'fallback'),
          unscheduled => sid('berlin-2026', 'unscheduled'),
          kolkata => sid('kolkata-2026', 'k1'), utc => sid('utc-2026', 'u1'));


# ---- the files

my %r = map { $_ => ics($id{$_}) } qw(summer winter fallback kolkata utc);
my @names = sort keys %r;
my %p;
@p{@names} = @{ ConfHaven::Ics::check($t, map { $r{$_}{body} } @names) };

subtest 'every file: 200 text/calendar, parses, wire rules' => sub {
    plan(tests => 7 * @names);
    for my $n (@names) {
        my $r = $r{$n};
        is($r->{status}, 200, "$n: 200") or why($r);
        is($r->{headers}{'content-type'}, 'text/calendar; charset=utf-8', "$n: content type");
        is_deeply($p{$n}{problems}, [], "$n: ical.js reads it, CRLF, <= 75 octets, UTF-8 lines")
            or diag(explain($p{$n}));
        ok($p{$n}{max_octets} <= 75, "$n: longest line $p{$n}{max_octets} octets");
        is(scalar @{ $p{$n}{events} }, 1, "$n: one VEVENT");
        is($p{$n}{events}[0]{uid}, $id{$n} . '@' . ($n eq 'kolkata' ? 'kolkata-2026'
                                                   : $n eq 'utc' ? 'utc-2026' : 'berlin-2026')
                                   . '.confhaven', "$n: UID");
        unlike($r->{body}, qr/(?<!\r)\n/, "$n: CRLF line ends only");
    }
};

subtest 'times round-trip: the UTC instants are the database\'s' => sub {
    plan(tests => 4 * @names);
    for my $n (@names) {
        my $e = $p{$n}{events}[0];
        is($e->{dtstart}, utc($id{$n}, 'start_at'), "$n: DTSTART instant");
        is($e->{dtend}, utc($id{$n}, 'end_at'), "$n: DTEND instant");
        like($e->{dtstamp}, qr/Z$/, "$n: DTSTAMP in UTC");
        like($r{$n}{body}, qr/\r\nDTSTAMP:\d{8}T\d{6}Z\r\n/, "$n: DTSTAMP wire form");
    }
};

subtest 'Europe/Berlin: TZID, local times, VTIMEZONE with +0100 and +0200' => sub {
    plan(tests => 12);
    my ($s, $w) = ($p{summer}{events}[0], $p{winter}{events}[0]);
    is($s->{dtstart_tzid}, 'Europe/Berlin', 'summer: TZID');
    is($s->{dtstart_local}, '2026-07-15T14:00:00', 'summer: local 14:00');
    is($s->{dtstart}, '2026-07-15T12:00:00.000Z', 'summer: 12:00Z (+02:00)');
    is($w->{dtstart_tzid}, 'Europe/Berlin', 'winter: TZID');
    is($w->{dtstart_local}, '2026-12-15T09:30:00', 'winter: local 09:30');
    is($w->{dtstart}, '2026-12-15T08:30:00.000Z', 'winter: 08:30Z (+01:00)');
    is_deeply($p{summer}{timezones}, ['Europe/Berlin'], 'one VTIMEZONE');
    my $b = $r{summer}{body};
    like($b, qr/BEGIN:DAYLIGHT\r\nDTSTART:20260329T020000\r\nTZOFFSETFROM:\+0100\r\nTZOFFSETTO:\+0200\r\nTZNAME:CEST\r\n/,
         'DAYLIGHT from 29 March 2026 02:00, +0100 -> +0200');
    like($b, qr/BEGIN:STANDARD\r\nDTSTART:20261025T030000\r\nTZOFFSETFROM:\+0200\r\nTZOFFSETTO:\+0100\r\nTZNAME:CET\r\n/,
         'STANDARD from 25 October 2026 03:00, +0200 -> +0100');
    like($b, qr/DTSTART;TZID=Europe\/Berlin:20260715T140000\r\n/, 'DTSTART wire form');
    like($b, qr/\r\nLOCATION:Hall B\\, Messe Berlin\\, Messedamm 22\r\n/, 'LOCATION: room and venue');
    my $f = $p{fallback}{events}[0];
    is($f->{dtstart}, utc($id{fallback}, 'start_at'), 'the repeated 02:30 reads back as the same instant');
};

subtest 'Asia/Kolkata and UTC' => sub {
    plan(tests => 7);
    my $k = $r{kolkata}{body};
    is($p{kolkata}{events}[0]{dtstart}, '2026-07-20T05:30:00.000Z', 'Kolkata: 11:00 +05:30');
    like($k, qr/TZOFFSETFROM:\+0530\r\nTZOFFSETTO:\+0530\r\n/, 'Kolkata: +0530 only');
    unlike($k, qr/DAYLIGHT/, 'Kolkata: no DAYLIGHT');
    is_deeply($p{kolkata}{timezones}, ['Asia/Kolkata'], 'Kolkata: its VTIMEZONE');
    like($r{utc}{body}, qr/\r\nDTSTART:20260329T013000Z\r\n/, 'UTC conference: UTC times');
    unlike($r{utc}{body}, qr/VTIMEZONE|TZID/, 'UTC conference: no VTIMEZONE');
    is($p{utc}{events}[0]{dtstart}, '2026-03-29T01:30:00.000Z', 'UTC: instant');
};

subtest 'TEXT escaping and folding' => sub {
    plan(tests => 9);
    my ($s, $w) = ($p{summer}{events}[0], $p{winter}{events}[0]);
    is($s->{summary}, $TITLE, 'SUMMARY reads back as the title');
    like($r{summer}{body}, qr/\r\nSUMMARY:Scaling C\\, nginx\\; and MCP \\\\ a "backslash" talk\r\n/,
         'SUMMARY escaped on the wire');
    like($s->{description}, qr/^First line\nSecond line\n\nSpeakers: Jürgen Müller\n\nConf berlin-2026$/,
         'DESCRIPTION: abstract, speakers, conference; newlines kept');
    like($r{summer}{body}, qr/DESCRIPTION:First line\\nSecond line\\n\\nSpeakers:/, 'newlines as \\n');
    like($w->{description}, qr/^\Q$LONG\E\n\nSpeakers: Jürgen Müller\, Lee\, Ann\n/,
         'the long multibyte abstract reads back whole');
    my $bytes = $r{winter}{body};
    my @folded = $bytes =~ /\r\n /g;
    ok(@folded > 20, 'long DESCRIPTION folded (' . scalar(@folded) . ' continuation lines)');
    ok((grep { length($_) > 75 } split /\r\n/, $bytes) == 0, 'no line over 75 octets');
    ok(eval { Encode::decode('UTF-8', $_, Encode::FB_CROAK) for split /\r\n/, $bytes; 1 },
       'no UTF-8 sequence split across lines');
    ok(!grep({ /(?<!\\)(?:\\\\)*\\$/ } split /\r\n/, $bytes), 'no escape pair split across lines');
};

subtest 'URL: the schedule\'s own page, else ours' => sub {
    plan(tests => 2);
    is($p{summer}{events}[0]{url}, "http://localhost/api/sessions/$id{summer}",
       'Sessionize has no page: our URL');
    my $r = $t->import_file('pycon-au-2024', 'pretalx_pycon-au-2024.schedule.json',
                            name => 'PyCon AU 2024', timezone => 'Australia/Melbourne');
    my $pid = $t->psql("SELECT s.id FROM confhaven.sessions s JOIN confhaven.conferences c"
                       . " ON c.id = s.conference_id WHERE c.slug = 'pycon-au-2024'"
                       . " AND s.start_at IS NOT NULL ORDER BY s.id LIMIT 1");
    my $x = ConfHaven::Ics::check($t, ics($pid)->{body})->[0];
    like($x->{events}[0]{url} // '', qr{^https://pretalx\.com/pycon-au-2024/talk/\w+/$},
         'pretalx: the talk page');
};


# ---- SEQUENCE across re-imports

my $seq0 = $p{summer}{events}[0]{sequence};
my $stamp0 = $p{summer}{events}[0]{dtstamp};

subtest 'identical re-import: SEQUENCE and DTSTAMP stay' => sub {
    plan(tests => 5);
    is($seq0, 0, 'first import: SEQUENCE 0');
    my $r = ics($id{summer});
    like($r->{headers}{'x-cache-status'} // '', qr/HIT/, 'second read is a cache hit');
    $r = import_doc('berlin-2026', 'Europe/Berlin', \@berlin, \%speakers);
    is($r->{status}, 200, 're-import') or why($r);
    my $e = ConfHaven::Ics::check($t, ics($id{summer})->{body})->[0]{events}[0];
    is($e->{sequence}, 0, 'SEQUENCE still 0');
    is($e->{dtstamp}, $stamp0, 'DTSTAMP unchanged');
};

subtest 'a changed title: SEQUENCE + 1, same UID, new DTSTAMP' => sub {
    plan(tests => 8);
    sleep 1;
    my @changed = map { { %$_ } } @berlin;
    $changed[0]{title} = 'Scaling C, renamed';
    my $r = import_doc('berlin-2026', 'Europe/Berlin', \@changed, \%speakers);
    is($r->{status}, 200, 're-import with a new title') or why($r);
    is(sid('berlin-2026', 'summer'), $id{summer}, 'session id kept');
    my $x = ConfHaven::Ics::check($t, ics($id{summer})->{body}, ics($id{winter})->{body});
    my ($e, $w) = ($x->[0]{events}[0], $x->[1]{events}[0]);
    is($e->{summary}, 'Scaling C, renamed', 'new title served at once (cache forgot it)');
    is($e->{sequence}, 1, 'SEQUENCE 1');
    is($e->{uid}, "$id{summer}\@berlin-2026.confhaven", 'same UID');
    ok($e->{dtstamp} gt $stamp0, "DTSTAMP moved ($stamp0 -> $e->{dtstamp})");
    is($w->{sequence}, 0, 'the unchanged session keeps SEQUENCE 0');

    $r = import_doc('berlin-2026', 'Europe/Berlin', \@changed, \%speakers);
    $e = ConfHaven::Ics::check($t, ics($id{summer})->{body})->[0]{events}[0];
    is($e->{sequence}, 1, 'the same file again: SEQUENCE stays 1');
};


# ---- errors

subtest 'errors' => sub {
    plan(tests => 12);
    my $r = ics(999999);
    is($r->{status}, 404, 'unknown id: 404');
    like($r->{json}{error}{message} // '', qr/no session with id 999999/, 'unknown id: message');
    for my $bad ('abc', '0', '042', '-1', '1.5') {
        $r = $t->http('GET', "/api/sessions/$bad.ics");
        is($r->{status}, 400, "\"$bad.ics\": 400");
    }
    $r = ics($id{unscheduled});
    is($r->{status}, 404, 'unscheduled session: 404');
    like($r->{json}{error}{message} // '', qr/no time in the schedule/, 'unscheduled: why');
    $r = $t->http('HEAD', "/api/sessions/$id{summer}.ics");
    is($r->{status}, 200, 'HEAD: 200');
    is($r->{body}, '', 'HEAD: no body');
    $r = $t->http('POST', "/api/sessions/$id{summer}.ics", body => '');
    is($r->{status}, 405, 'POST: 405');
};


# ---- MCP resource

subtest 'MCP: confhaven://sessions/{id}.ics' => sub {
    plan(tests => 8);
    my $m = ConfHaven::MCP->new($t);
    my ($sid) = $m->initialize('2025-11-25');
    my $r = $m->request('resources/templates/list', {}, session => $sid, version => '2025-11-25');
    my ($tpl) = grep { $_->{uriTemplate} eq 'confhaven://sessions/{id}.ics' }
                @{ $r->{json}{result}{resourceTemplates} // [] };
    ok($tpl, 'template listed');
    is($tpl && $tpl->{mimeType}, 'text/calendar', 'template mimeType');

    $r = $m->request('resources/read', { uri => "confhaven://sessions/$id{winter}.ics" },
                     session => $sid, version => '2025-11-25');
    my $c = $r->{json}{result}{contents}[0] // {};
    is($c->{mimeType}, 'text/calendar', 'contents mimeType');
    is($c->{uri}, "confhaven://sessions/$id{winter}.ics", 'contents uri');
    my $text = Encode::encode('UTF-8', $c->{text} // '');
    is($text, ics($id{winter})->{body}, 'the same file as GET /api/sessions/{id}.ics');
    my $x = ConfHaven::Ics::check($t, $text)->[0];
    is_deeply($x->{problems}, [], 'ical.js reads it');

    $r = $m->request('resources/read', { uri => 'confhaven://sessions/999999.ics' },
                     session => $sid, version => '2025-11-25');
    is($r->{json}{error}{code}, -32002, 'unknown id: resource not found');
    $r = $m->request('resources/read', { uri => "confhaven://sessions/$id{unscheduled}.ics" },
                     session => $sid, version => '2025-11-25');
    is($r->{json}{error}{code}, -32002, 'unscheduled: resource not found');
};

subtest 'OpenAPI documents the route' => sub {
    plan(tests => 2);
    my $r = $t->get_json('/api/openapi.json');
    my $op = $r->{json}{paths}{'/api/sessions/{id}.ics'}{get};
    is($op->{operationId}, 'getSessionIcs', 'operationId');
    ok($op->{responses}{200}{content}{'text/calendar'}, '200 text/calendar');
};

subtest 'the database keeps what the file says' => sub {
    plan(tests => 2);
    is($t->psql("SELECT sequence FROM confhaven.session_calendar WHERE session_id = $id{summer}"),
       1, 'session_calendar.sequence');
    like($t->psql("SELECT hash FROM confhaven.session_calendar WHERE session_id = $id{summer}"),
         qr/^[0-9a-f]{32}$/, 'session_calendar.hash');
};

subtest 'a conference that is not active has no files' => sub {
    plan(tests => 1);
    $t->psql("UPDATE confhaven.conferences SET is_active = false WHERE slug = 'kolkata-2026'");
    $t->redis_cli('FLUSHALL');
    is(ics($id{kolkata})->{status}, 404, 'inactive: 404');
};

subtest 'no cache entry is keyed by a Host the module would not write' => sub {
    plan(tests => 2);
    my $r = ics($id{winter}, host => 'bad"host');
    ok($r->{status} == 200 || $r->{status} == 400, 'odd Host: answered');
    unlike($r->{body} // '', qr/bad"host/, 'odd Host: not in the file');
};
