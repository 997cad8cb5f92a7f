#!/usr/bin/perl

# Hostile requests found by an outside review (each failed before its fix).
#
# 1. A header the MCP wires read once, sent twice (Mcp-Method, Mcp-Name,
#    Mcp-Param-*, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID,
#    Origin): the module read the first copy, a gateway in front may judge
#    by the last (the 2026 wire's Mcp-Method/Mcp-Name/Mcp-Param-* exist for
#    gateways), so "Mcp-Name: search_sessions" + "Mcp-Name:
#    send_calendar_invite" passed.  Now 400, JSON-RPC -32600, the header
#    named, on /mcp and /sse.
#
# 2. A query string's '%' without two hex digits after it: nginx's
#    ngx_unescape_uri() dropped it and what followed, so "q=100%" searched
#    "100", "limit=5%" was 5 and "q=%4" was no q.
#    Now the '%' stays as it is (the WHATWG URL standard, as
#    URLSearchParams and our web pages read it).
#
# 3. format= of the organizer analytics given twice was not "given more
#    than once" as every other parameter (the last won), and
#    /api/organizer/analytics.csv?format=json answered CSV.
#
# 4. /api/sessions/<control character> said "not valid UTF-8".
#
# 5. A JSON-RPC message with a method and a result (or an error) was
#    answered as a request; it is neither (-32600).
#
# 6. prompts/get plan_my_day with date 2026-02-30 (or 2025-02-29, 0000-..)
#    answered PostgreSQL's "date/time field value out of range" text.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(30);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

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
EOF
$t->run();

my $m = ConfHaven::MCP->new($t);

sub err { my ($r) = @_; return [$r->{status}, $r->{json}{error}{code}] }


# ---- 1. repeated MCP headers

my $call = { name => 'search_sessions',
             arguments => { query => 'x', conference => 'nope' } };

my $r = $m->modern('tools/call', $call);
ok($r->{status} == 200 && !$r->{json}{error}, 'one copy of each header: 200');

$r = $m->modern('tools/call', $call,
                headers => ['Mcp-Name' => 'send_calendar_invite']);
is_deeply(err($r), [400, -32600], 'Mcp-Name twice: 400 -32600');
like($r->{json}{error}{message} // '', qr/Mcp-Name header .*more than once/,
     'Mcp-Name twice: the message names the header');

$r = $m->modern('tools/call', $call,
                headers => ['Mcp-Method' => 'tools/list']);
is_deeply(err($r), [400, -32600], 'Mcp-Method twice: 400 -32600');

$r = $m->modern('tools/call', $call,
                headers => ['mcp-param-conference' => 'other']);
is_deeply(err($r), [400, -32600],
          'Mcp-Param-Conference twice (any case): 400 -32600');

$r = $m->modern('tools/list', {},
                headers => ['MCP-Protocol-Version' => '2025-11-25']);
is_deeply(err($r), [400, -32600], 'MCP-Protocol-Version twice: 400 -32600');

my ($sid) = $m->initialize('2025-11-25');

$r = $m->request('ping', {}, session => $sid, version => '2025-11-25',
                 headers => ['Mcp-Session-Id' => 'f' x 32]);
is_deeply(err($r), [400, -32600], 'Mcp-Session-Id twice: 400 -32600');

$r = $m->request('ping', {}, session => $sid, version => '2025-11-25');
is($r->{status}, 200, 'the session still answers');

$r = $m->request('ping', {}, session => $sid, version => '2025-11-25',
                 headers => ['Origin' => 'http://localhost',
                             'Origin' => 'http://evil.example']);
is_deeply(err($r), [400, -32600], 'Origin twice: 400 -32600');

$r = $t->http('GET', '/sse', headers => [
         'Accept' => 'text/event-stream',
         'Origin' => 'http://localhost', 'Origin' => 'http://evil.example']);
is($r->{status}, 400, '/sse with Origin twice: 400');

$r = $t->http('POST', '/sse/messages?sessionId=' . ('0' x 32),
              content_type => 'application/json',
              body => '{"jsonrpc":"2.0","id":1,"method":"ping"}',
              headers => ['MCP-Protocol-Version' => '2024-11-05',
                          'MCP-Protocol-Version' => '2025-11-25']);
is($r->{status}, 400, '/sse/messages with MCP-Protocol-Version twice: 400');


# ---- 2. malformed percent-escapes in the query string

$r = $t->import_file('scottish-summit-2026',
                     'sessionize-all_scottish-summit-2026.json',
                     name => 'Scottish Summit 2026',
                     timezone => 'Europe/London');
is($r->{status}, 200, 'import');

$r = $t->get_json('/api/sessions?q=%zz&include_past=true');
is($r->{json}{query}{q}, '%zz', 'q=%zz is "%zz", not "zz"');

$r = $t->get_json('/api/sessions?q=100%25%&include_past=true');
is($r->{json}{query}{q}, '100%%', 'q=100%25% is "100%%"');

$r = $t->get_json('/api/sessions?q=%4&include_past=true');
is($r->{json}{query}{q}, '%4', 'q=%4 is "%4", not empty');

$r = $t->get_json('/api/sessions?q=a+%41%62&include_past=true');
is($r->{json}{query}{q}, 'a Ab', 'q=a+%41%62 is still "a Ab"');

$r = $t->get_json('/api/sessions?limit=5%');
is($r->{status}, 400, 'limit=5% is not a limit (was 5)');


# ---- 3. format= of the organizer analytics

my @admin = ('Authorization' => 'Bearer ' . $t->admin_key);
$r = $t->http('POST', '/api/admin/organizers?name=Acme&tier=pro',
              headers => \@admin);
my $org = $r->{json}{id};
$t->http('POST', "/api/admin/organizers/$org/conferences/scottish-summit-2026",
         headers => \@admin);
$r = $t->http('POST', "/api/admin/organizers/$org/keys?label=t",
              headers => \@admin);
my @key = ('X-API-Key' => $r->{json}{key} // '');

my $an = '/api/organizer/analytics?conference=scottish-summit-2026';

$r = $t->get_json("$an&format=csv", headers => \@key);
is($r->{status}, 200, 'format=csv: 200');

$r = $t->get_json("$an&format=json&format=csv", headers => \@key);
is($r->{status}, 400, 'format twice: 400');
like($r->{json}{error}{message} // '', qr/"format" is given more than once/,
     'format twice: the message says so');

$r = $t->get_json('/api/organizer/analytics.csv?conference=scottish-summit-2026'
                  . '&format=json', headers => \@key);
is($r->{status}, 400, 'analytics.csv with format=json: 400, not CSV');


# ---- 4. a control character in a session id

$r = $t->get_json('/api/sessions/%0a1');
is($r->{status}, 400, '/api/sessions/%0a1: 400');
like($r->{json}{error}{message} // '', qr/control character/,
     '... naming the control character');


# ---- 5. a request that is also a response

$r = $m->post({ jsonrpc => '2.0', id => 7, method => 'ping', result => {} },
              session => $sid, version => '2025-11-25');
is_deeply(err($r), [400, -32600], 'method and result: 400 -32600');

$r = $m->post({ jsonrpc => '2.0', id => 8, method => 'ping',
                error => { code => 1, message => 'x' } },
              session => $sid, version => '2025-11-25');
is_deeply(err($r), [400, -32600], 'method and error: 400 -32600');

$r = $m->post({ jsonrpc => '2.0', id => 9, method => 'ping', result => undef },
              session => $sid, version => '2025-11-25');
is($r->{status}, 200, 'method and "result": null: still a request');


# ---- 6. plan_my_day's date: a day of the calendar

for my $date (qw(2026-02-30 2025-02-29 0000-01-01)) {
    $r = $m->request('prompts/get', { name => 'plan_my_day',
                         arguments => { conference => 'scottish-summit-2026',
                                        date => $date } },
                     session => $sid, version => '2025-11-25');
    like($r->{json}{error}{message} // '',
         qr/^Invalid params: date \Q$date\E is not a day of the calendar$/,
         "plan_my_day date $date: our message, not PostgreSQL's");
}

$r = $m->request('prompts/get', { name => 'plan_my_day',
                     arguments => { conference => 'scottish-summit-2026',
                                    date => '2028-02-29' } },
                 session => $sid, version => '2025-11-25');
ok($r->{json}{result}{messages}, 'plan_my_day date 2028-02-29 (leap): a plan');
