#!/usr/bin/perl

# send_calendar_invite through Microsoft Graph (a fake, t/tools/fake-graph)
# on an nginx thread pool: REST POST /api/sessions/{id}/invite and the MCP
# tool (stateless wire) land one event per session and address with the
# right attendee, subject, times and zone; repeats answer already_sent;
# the token is cached and refreshed; 429/503 are retried; an outage is a
# clear retryable error; bad input gets a clear error; nothing stored
# holds the address in clear.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep);

use ConfHaven::Test;
use ConfHaven::MCP;
use ConfHaven::FakeGraph;

plan(skip_all => 'node is needed for the fake Graph')
    unless ConfHaven::FakeGraph->available;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->needs_redis()
    ->worker_processes(2);

my $g = ConfHaven::FakeGraph->start($t, 9);
my $graph = $g->conf;

$t->write_conf(<<"EOF");
thread_pool graph threads=8;

http {
    confhaven_pg_server "%%DSN%%";
    confhaven_redis_server redis://%%REDIS%%;
$graph
    confhaven_invite_limit_recipient 1000;
    confhaven_invite_limit_client 100000;

    server {
        listen 127.0.0.1:%%PORT_1%%;

        location /mcp {
            confhaven_mcp on;
        }

        location /sse {
            confhaven_mcp_sse on;
        }

        location / {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }
    }
}
EOF
$t->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'import');

my @ids = split /\n/, $t->psql(
    "SELECT id FROM confhaven.sessions WHERE start_at IS NOT NULL "
    . "AND end_at > start_at ORDER BY id LIMIT 6");
my ($sid, $sid2, $sid3) = @ids;
my $port = $t->port(1);
my $J = JSON::PP->new->canonical;

sub invite {
    my ($id, $email, %o) = @_;
    return $t->http('POST', "/api/sessions/$id/invite",
                    content_type => 'application/json',
                    body => $o{body} // $J->encode({ user_email => $email }),
                    %o);
}

sub events_for {
    my ($addr) = @_;
    return [ grep { lc $_->{attendees}[0]{emailAddress}{address} eq lc $addr }
                  @{$g->events} ];
}


# ---- one invite over REST

$r = invite($sid, 'Ada.Lovelace@Example.org');
is($r->{status}, 200, 'REST invite: 200');
is($r->{json}{status}, 'sent', 'REST invite: sent');
is($r->{json}{session_id}, $sid, 'REST invite: session_id');
is($r->{json}{ics_url}, "http://localhost/api/sessions/$sid.ics",
   'REST invite: absolute .ics link from the request');
ok(length($r->{json}{event_id} // '') > 5, 'REST invite: Graph event id');

my $ev = events_for('ada.lovelace@example.org');
is(scalar @$ev, 1, 'one event at Graph');
my $row = $t->psql("SELECT title, to_char(start_at AT TIME ZONE 'UTC', "
                   . "'YYYY-MM-DD\"T\"HH24:MI:SS'), to_char(end_at AT TIME "
                   . "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
                   . "FROM confhaven.sessions WHERE id = $sid");
my ($title, $start, $end) = split /\|/, $row;
utf8::decode($title);
my $req = $ev->[0]{_request} // {};
is($req->{subject}, $title, 'event: subject is the title');
unlike($req->{body}{content} // '', qr{https?://|localhost},
       'event: no link made from the client\'s Host header in the mail');
is($req->{start}{dateTime}, $start, 'event: start (UTC)');
is($req->{end}{dateTime}, $end, 'event: end (UTC)');
is($req->{start}{timeZone}, 'UTC', 'event: start zone');
is($req->{end}{timeZone}, 'UTC', 'event: end zone');
is($req->{attendees}[0]{emailAddress}{address}, 'ada.lovelace@example.org',
   'event: the attendee');
is($req->{attendees}[0]{type}, 'required', 'event: a required attendee');
ok($req->{transactionId} =~ /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
   'event: a UUID transactionId');
is($req->{allowNewTimeProposals}, JSON::PP::false, 'event: no new time proposals');
is($ev->[0]{organizer}{emailAddress}{address}, $ConfHaven::FakeGraph::ORGANIZER,
   'event: in the organizer mailbox');
my $first_event = $r->{json}{event_id};

# ---- a repeat, in any letter case, sends nothing

$r = invite($sid, 'ada.lovelace@example.org');
is($r->{json}{status}, 'already_sent', 'repeat: already_sent');
is($r->{json}{event_id}, $first_event, 'repeat: the same event');
$r = invite($sid, 'ADA.LOVELACE@EXAMPLE.ORG');
is($r->{json}{status}, 'already_sent', 'repeat in upper case: already_sent');
is(scalar @{events_for('ada.lovelace@example.org')}, 1,
   'repeat: still one event');

# ---- what is stored

is($t->psql("SELECT count(*) FROM confhaven.invites i "
            . "WHERE row_to_json(i)::text ILIKE '%example.org%' "
            . "OR row_to_json(i)::text ILIKE '%lovelace%'"), 0,
   'the invite record holds no address');
is($t->psql("SELECT status || ' ' || (graph_event_id IS NOT NULL) || ' ' "
            . "|| (conference_id IS NOT NULL) FROM confhaven.invites "
            . "WHERE session_id = $sid"), 'sent true true',
   'the invite record: sent, event id, conference');

# the organizers' analytics count the sent invite (not the repeats); the
# events are written by a timer, so wait for them
my $inv_events = 0;
for my $try (1 .. 60) {
    $inv_events = $t->psql("SELECT count(*) FROM confhaven.events "
                           . "WHERE kind = 'invite' AND session_id = $sid");
    last if $inv_events > 0;
    select(undef, undef, undef, 0.25);
}
select(undef, undef, undef, 1.5);   # a later flush would show a repeat
is($t->psql("SELECT count(*) FROM confhaven.events "
            . "WHERE kind = 'invite' AND session_id = $sid"), 1,
   'analytics: one invite event for the sent invite, none for repeats');

# ---- MCP, stateless wire

my $m = ConfHaven::MCP->new($t);
$r = $m->modern('tools/list', {});
my ($tool) = grep { $_->{name} eq 'send_calendar_invite' }
             @{$r->{json}{result}{tools} // []};
ok($tool, 'tools/list: send_calendar_invite');
is_deeply([ @{$tool->{annotations} // {}}{qw(readOnlyHint destructiveHint idempotentHint openWorldHint)} ],
          [ JSON::PP::false, JSON::PP::false, JSON::PP::true, JSON::PP::true ],
          'tools/list: side-effect annotations');
is_deeply([ sort @{$tool->{inputSchema}{required} // []} ],
          [ 'session_id', 'user_email' ], 'tools/list: both arguments required');
ok($tool->{outputSchema}, 'tools/list: outputSchema');

$r = $m->modern('tools/call', { name => 'send_calendar_invite',
                  arguments => { session_id => $sid2,
                                 user_email => 'grace@example.net' } });
my $res = $r->{json}{result} // {};
is($res->{isError}, JSON::PP::false, 'MCP invite: no error');
is($res->{structuredContent}{status}, 'sent', 'MCP invite: sent');
like($res->{content}[0]{text}, qr/Invitation sent.*grace\@example\.net/s,
     'MCP invite: says it was sent, and to whom');
is(scalar @{events_for('grace@example.net')}, 1, 'MCP invite: one event');

$r = $m->modern('tools/call', { name => 'send_calendar_invite',
                  arguments => { session_id => $sid2,
                                 user_email => 'grace@example.net' } });
is($r->{json}{result}{structuredContent}{status}, 'already_sent',
   'MCP repeat: already_sent');

$r = $m->modern('tools/call', { name => 'send_calendar_invite',
                  arguments => { session_id => $sid2 } });
is($r->{json}{result}{isError}, JSON::PP::true, 'MCP without user_email: isError');
like($r->{json}{result}{content}[0]{text}, qr/user_email/, 'MCP without user_email: says which');

$r = $m->modern('tools/call', { name => 'send_calendar_invite',
                  arguments => { session_id => $sid2, user_email => 'no at sign' } });
like($r->{json}{result}{content}[0]{text}, qr/not a valid email address/,
     'MCP bad address: clear error');

$r = $m->modern('tools/call', { name => 'send_calendar_invite',
                  arguments => { session_id => 999999999,
                                 user_email => 'x@example.org' } });
like($r->{json}{result}{content}[0]{text}, qr/no session with id 999999999/i,
     'MCP unknown session: clear error');

# ---- MCP, Streamable HTTP session wire (2025-11-25)

my ($msid) = $m->initialize('2025-11-25');
$r = $m->request('tools/call', { name => 'send_calendar_invite',
                   arguments => { session_id => $sid3 + 0, user_email => 'session@example.org' } },
                 session => $msid, version => '2025-11-25');
is($r->{json}{result}{structuredContent}{status}, 'sent', 'MCP session wire: sent');
is(scalar @{events_for('session@example.org')}, 1, 'MCP session wire: one event');

# ---- MCP, legacy HTTP+SSE wire

my $lm = ConfHaven::MCP->new($t, path => '/sse');
my $es = $lm->open_stream('GET', '/sse', headers => [ 'Accept' => 'text/event-stream' ]);
$lm->read_until($es, sub { my @e = $lm->events($_[0]{body}); @e >= 1 }, 5);
my ($ep) = $lm->events($lm->response($es)->{body});
my $lmsg = sub { grep { ($_->{event} // '') eq 'message' } $lm->events($lm->response($es)->{body}) };
$t->post_json($ep->{data}, { jsonrpc => '2.0', id => 1, method => 'initialize',
                             params => { protocolVersion => '2024-11-05', capabilities => {},
                                         clientInfo => { name => 't', version => '1' } } });
$lm->read_until($es, sub { grep { ($_->{json}{id} // 0) == 1 } $lmsg->() }, 5);
$t->post_json($ep->{data}, { jsonrpc => '2.0', method => 'notifications/initialized' });
$t->post_json($ep->{data}, { jsonrpc => '2.0', id => 2, method => 'tools/call',
                             params => { name => 'send_calendar_invite',
                                         arguments => { session_id => $sid3 + 0,
                                                        user_email => 'legacy@example.org' } } });
$lm->read_until($es, sub { grep { ($_->{json}{id} // 0) == 2 } $lmsg->() }, 15);
my ($lres) = grep { ($_->{json}{id} // 0) == 2 } $lmsg->();
is($lres && $lres->{json}{result}{structuredContent}{status}, 'sent', 'MCP legacy SSE wire: sent');
is(scalar @{events_for('legacy@example.org')}, 1, 'MCP legacy SSE wire: one event');
close $es->{sock};

# ---- the token is cached

# one token per worker (its threads share it); the file runs 2 workers
my $workers = 2;
ok($g->stats->{tokens_issued} >= 1 && $g->stats->{tokens_issued} <= $workers,
   'at most one token per worker for all invites so far');

# ---- bad input over REST

$r = invite(999999999, 'x@example.org');
is($r->{status}, 404, 'unknown session: 404');
like($r->{json}{error}{message} // $r->{body}, qr/no session/, 'unknown session: says so');

for my $bad (['plainaddress', qr/no "\@"/], ['a@b', qr/top-level domain/], ['a@example', qr/needs a dot/],
             ['a b@example.org', qr/character/], ['a..b@example.org', qr/two dots/],
             ['ada@exa_mple.org', qr/domain/], ['"Ada" <ada@example.org>', qr/./],
             ['ada@example.org, bob@example.org', qr/./],
             ['ada@' . ('x' x 64) . '.org', qr/63/],
             ["ada\@example.org\r\nBcc: x\@y.org", qr/control|character/])
{
    $r = invite($sid, $bad->[0]);
    is($r->{status}, 400, "bad address \"$bad->[0]\": 400");
    like($r->{json}{error}{message} // '', $bad->[1], "bad address \"$bad->[0]\": the reason");
}

$r = invite($sid, undef, body => '{}');
is($r->{status}, 400, 'missing user_email: 400');
like($r->{json}{error}{message}, qr/user_email.*required/, 'missing user_email: says so');

$r = invite($sid, undef, body => '{"user_email": 42}');
is($r->{status}, 400, 'user_email a number: 400');
like($r->{json}{error}{message}, qr/must be a string/, 'user_email a number: says so');

$r = invite($sid, undef, body => 'user_email=x@example.org');
is($r->{status}, 400, 'not JSON: 400');

$r = invite($sid, undef, body => '{"user_email": "x@example.org", "cc": "y@example.org"}');
is($r->{status}, 400, 'unknown member: 400');

$r = invite($sid, undef, body => '{"user_email": "' . ('a' x 5000) . '@example.org"}');
is($r->{status}, 413, 'huge body: 413');

$r = invite('abc', 'x@example.org');
is($r->{status}, 400, 'session id not a number: 400');

$r = invite($sid, 'x@example.org', content_type => 'text/plain');
is($r->{status}, 415, 'wrong content type: 415');

$r = $t->http('GET', "/api/sessions/$sid/invite");
is($r->{status}, 405, 'GET on the invite: 405');

is(scalar @{$g->events}, 4, 'no event from bad input');

# ---- Graph says 429, then yes

$g->fault({ method => 'POST', path => '/events$', status => 429, times => 1,
            headers => { 'Retry-After' => '1', 'Content-Type' => 'application/json' },
            body => { error => { code => 'TooManyRequests', message => 'Please retry again later.',
                                 innerError => { code => '429', 'request-id' => '@REQUEST_ID@', status => '429' } } } });
my $before = $g->event_posts;
$r = invite($sid3, 'throttled@example.org');
is($r->{json}{status}, 'sent', '429 then 201: sent');
is($g->event_posts - $before, 2, '429: retried once');
ok($r->{elapsed} // 1 || 1, '429: answered');

# ---- 503 twice, then yes

$g->fault({ method => 'POST', path => '/events$', status => 503, times => 2,
            headers => { 'Retry-After' => '0.2' } });
$before = $g->event_posts;
$r = invite($sid3, 'flaky@example.org');
is($r->{json}{status}, 'sent', '503, 503, 201: sent');
is($g->event_posts - $before, 3, '503: retried twice');
is(scalar @{events_for('flaky@example.org')}, 1, '503: one event');

# ---- a 5xx with a body that is not JSON, then yes

$g->fault({ method => 'POST', path => '/events$', status => 500, times => 1,
            body => '<html>oops' });
$r = invite($sid3, 'oops@example.org');
is($r->{json}{status}, 'sent', 'malformed 500, then 201: sent');

# ---- an outage: a clear, retryable error; later it goes through

$g->fault({ method => 'POST', path => '/events$', status => 503, times => 1000,
            headers => { 'Retry-After' => '1' } });
$r = invite($sid3, 'outage@example.org');
is($r->{status}, 503, 'outage: 503');
is($r->{json}{error}{code}, 'graph_unavailable', 'outage: code');
like($r->{json}{error}{message}, qr/did not create the invite after \d attempt/, 'outage: says so');
ok(($r->{headers}{'retry-after'} // '') =~ /^\d+$/, 'outage: Retry-After');
is($t->psql("SELECT status FROM confhaven.invites WHERE status = 'failed'"), 'failed',
   'outage: recorded as failed');

# the fake forgets everything, tokens too: the cached one is refused (401)
$g->reset;
$r = invite($sid3, 'outage@example.org');
is($r->{json}{status}, 'sent', 'after the outage: sent (token refused, renewed)');
ok($g->stats->{tokens_issued} >= 1 && $g->stats->{tokens_issued} <= $workers,
   'after the reset: at most one new token per worker');

# ---- Graph answers 201 with a body that is not JSON

$g->fault({ method => 'POST', path => '/events$', status => 201, times => 1,
            body => '{"id": "AAMk' });
$r = invite($sid3, 'garbled@example.org');
is($r->{json}{status}, 'sent', '201 with malformed JSON: sent');
ok(!exists $r->{json}{event_id}, '201 with malformed JSON: no event id');

# ---- Graph refuses (403): no retry, a clear error

$g->fault({ method => 'POST', path => '/events$', status => 403, times => 1,
            body => { error => { code => 'ErrorAccessDenied',
                                 message => 'Access is denied. Check credentials and try again.' } } });
$before = $g->event_posts;
$r = invite($sid3, 'denied@example.org');
is($r->{status}, 502, '403 from Graph: 502');
like($r->{json}{error}{message}, qr/ErrorAccessDenied/, '403 from Graph: the code');
is($g->event_posts - $before, 1, '403 from Graph: not retried');

# ---- the token expires and is renewed

$g->config(expires_in => 2);
$g->reset;
$r = invite($sid, 'exp1@example.org');
is($r->{json}{status}, 'sent', 'short-lived token: sent');
my $tokens = $g->stats->{tokens_issued};
sleep 3;
$r = invite($sid, 'exp2@example.org');
is($r->{json}{status}, 'sent', 'after expiry: sent');
is($g->stats->{tokens_issued}, $tokens + 1, 'after expiry: a new token');
ok(scalar(grep { ($_->{status} // 0) == 401 } @{$g->requests}) <= $workers,
   'at most one 401 per worker (its token cached across the reset)');
$g->config(expires_in => 3599);

# ---- 200 concurrent invites, mixed duplicates

$g->reset;
my $sent_before = $t->psql("SELECT count(*) FROM confhaven.invites WHERE status = 'sent'");
my $other_before = $t->psql("SELECT count(*) FROM confhaven.invites WHERE status <> 'sent'");
my (@h, %distinct);
for my $i (0 .. 199) {
    my $addr = sprintf 'Person%02d@Example.com', $i % 40;
    $addr = lc $addr if $i % 3 == 0;
    my $id = $ids[$i % 3];
    $distinct{"$id " . lc $addr} = 1;
    push @h, $t->http_start('POST', "/api/sessions/$id/invite",
                            content_type => 'application/json',
                            body => $J->encode({ user_email => $addr }),
                            timeout => 30);
}
my @res = $t->http_finish(@h);
is(scalar(grep { $_->{status} == 200 } @res), 200, 'concurrent: 200 answers 200');
my %st;
$st{$_->{json}{status} // 'none'}++ for @res;
is($st{sent}, scalar keys %distinct, 'concurrent: one "sent" per distinct pair');
my %seen;
for my $e (@{$g->events}) {
    $seen{lc $e->{attendees}[0]{emailAddress}{address} . ' ' . $e->{subject}}++;
}
is(scalar @{$g->events}, scalar keys %distinct, 'concurrent: one event per distinct pair at Graph');
is(scalar(grep { $_ > 1 } values %seen), 0, 'concurrent: no pair twice');
diag('200 concurrent invites: peak requests in flight at the mailbox '
     . $J->encode($g->stats->{peak}) . sprintf(', slowest answer %.2f s',
       (sort { $b <=> $a } map { $_->{elapsed} } @res)[0]));
is($t->psql("SELECT count(*) FROM confhaven.invites WHERE status = 'sent'") - $sent_before,
   scalar(keys %distinct), 'concurrent: each pair recorded as sent, once');
is($t->psql("SELECT count(*) FROM confhaven.invites WHERE status <> 'sent'"), $other_before,
   'concurrent: no claim left pending or failed');


# ---- Graph stalls 10 s: the event loop keeps answering

$g->fault({ method => 'POST', path => '/events$', delay_ms => 10000, pass => 1, times => 1 });
my $stalled = $t->http_start('POST', "/api/sessions/$sid/invite",
                             content_type => 'application/json',
                             body => $J->encode({ user_email => 'stall@example.org' }),
                             timeout => 30);
sleep 0.5;
my (@lat_health, @lat_search, @lat_invite, $all_ok);
$all_ok = 1;
my $t0 = Time::HiRes::time();
while (Time::HiRes::time() - $t0 < 8) {
    my $a = Time::HiRes::time();
    my $h = $t->http('GET', '/health');
    push @lat_health, Time::HiRes::time() - $a;
    $a = Time::HiRes::time();
    my $s = $t->http('GET', '/api/sessions?q=azure&limit=5');
    push @lat_search, Time::HiRes::time() - $a;
    $a = Time::HiRes::time();
    my $i = invite($sid, 'during-stall-' . scalar(@lat_invite) . '@example.org');
    push @lat_invite, Time::HiRes::time() - $a;
    $all_ok = 0 unless $h->{status} == 200 && $s->{status} == 200
                       && ($i->{json}{status} // '') eq 'sent';
    sleep 0.2;
}
my $during_end = Time::HiRes::time();
my $stall = $t->http_finish($stalled);
my $stall_end = Time::HiRes::time();
ok($all_ok, 'stall: /health, searches and other invites answered meanwhile');
is($stall->{json}{status}, 'sent', 'stall: the stalled invite is sent in the end');
ok($during_end < $stall_end, 'stall: all answered before the stall ended');
sub stats_ms {
    my @v = sort { $a <=> $b } @_;
    return sprintf 'n=%d median=%.1fms p95=%.1fms max=%.1fms', scalar @v,
        1000 * $v[int($#v / 2)], 1000 * $v[int(0.95 * $#v)], 1000 * $v[-1];
}
diag('during a 10 s Graph stall: /health ' . stats_ms(@lat_health));
diag('during a 10 s Graph stall: search ' . stats_ms(@lat_search));
diag('during a 10 s Graph stall: other invites ' . stats_ms(@lat_invite));
diag(sprintf 'the stalled invite took %.1f s', $stall->{elapsed});


# ---- a reload while invites are in flight loses none, duplicates none

$g->fault({ method => 'POST', path => '/events$', delay_ms => 2000, pass => 1, times => 8 });
my $ev_before = scalar @{$g->events};
my $rows_before = $t->psql("SELECT count(*) FROM confhaven.invites WHERE status = 'sent'");
@h = map { $t->http_start('POST', "/api/sessions/$sid2/invite",
                          content_type => 'application/json',
                          body => $J->encode({ user_email => "reload$_\@example.org" }),
                          timeout => 30) } 1 .. 8;
sleep 0.7;
$t->reload;
@res = $t->http_finish(@h);
is(scalar(grep { ($_->{json}{status} // '') eq 'sent' } @res), 8,
   'reload: every in-flight invite answered "sent"');
is(scalar @{$g->events} - $ev_before, 8, 'reload: 8 events at Graph, no more');
is($t->psql("SELECT count(*) FROM confhaven.invites WHERE status = 'sent'") - $rows_before,
   8, 'reload: all recorded as sent');
@res = map { invite($sid2, "reload$_\@example.org") } 1 .. 8;
is(scalar(grep { ($_->{json}{status} // '') eq 'already_sent' } @res), 8,
   'reload: asked again, all already_sent');

$t->done_testing();
