#!/usr/bin/perl

# Interop with the official TypeScript SDK client (@modelcontextprotocol/sdk,
# pinned in t/tools/mcp; t/tools/mcp/sdk-interop.mjs run with the pinned
# Node 22): over SSEClientTransport (legacy /sse) and
# StreamableHTTPClientTransport in JSON mode and in SSE mode, 20 sessions
# each (5 at a time): connect, ping, list tools, call each tool, read a
# conference and a session resource, get the plan_my_day prompt, complete
# a slug, close.  Four workers, reuseport and no keep-alive, so that the
# requests of one session are spread over the workers: the access log must
# show sessions whose requests several workers served, and legacy replies
# routed from the worker that got the POST to the one holding the stream.
# Each check of the script (counted over all sessions) is one TAP test.
#
# Skips (skip_all) only when npm is missing: in CI it is not.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use JSON::PP;
use Test::More;

use ConfHaven::Node;
use ConfHaven::Test;


my $SESSIONS = 20;

binmode($_, ':encoding(UTF-8)')
    for Test::More->builder->output, Test::More->builder->failure_output,
        Test::More->builder->todo_output;

my $node = ConfHaven::Node->new();
plan(skip_all => $node->why) unless $node->available;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(4);

my $err = $node->install;
if (defined $err) {
    fail('install the pinned MCP tools (npm ci --prefix t/tools/mcp)');
    diag($err);
    done_testing();
    exit;
}

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

log_format interop '$pid $request_method $uri "$arg_sessionId" '
                   '"$http_x_interop" "$http_x_interop_session" '
                   '"$http_mcp_session_id" $status "$sent_http_content_type"';

server {
    listen 127.0.0.1:%%PORT_1%% reuseport;

    # every request on a new connection: the kernel spreads them over the
    # workers (reuseport), so a session's requests meet several workers
    keepalive_timeout 0;

    location /mcp {
        confhaven_mcp on;
        access_log %%TESTDIR%%/interop.log interop;
    }

    location /sse {
        confhaven_mcp_sse on;
        access_log %%TESTDIR%%/interop.log interop;
    }

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

for my $c (['scottish-summit-2026', 'sessionize-all_scottish-summit-2026.json',
            'Scottish Summit 2026', 'Europe/London'],
           ['pycon-au-2024', 'pretalx_pycon-au-2024.schedule.json',
            'PyCon AU 2024', 'Australia/Melbourne'])
{
    my $r = $t->import_file($c->[0], $c->[1], name => $c->[2],
                            timezone => $c->[3], timeout => 60);
    $r->{status} == 200
        or BAIL_OUT("import of $c->[1]: $r->{status} " . ($r->{body} // ''));
}

my ($rc, $out) = $node->run(
    [ $node->node, $node->path('sdk-interop.mjs'),
      '--base', 'http://127.0.0.1:' . $t->port(1),
      '--sessions', $SESSIONS, '--concurrency', 5,
      '--transports', 'sse,http-json,http-sse' ],
    timeout => 100);

my ($json) = $out =~ /(\{\s*"checks".*\})\s*\z/s;
my $res = defined $json ? eval { JSON::PP->new->utf8->decode($json) } : undef;

if (ref $res ne 'HASH') {
    fail('sdk-interop.mjs reported its checks');
    diag("exit $rc:\n$out");
    $t->done_testing();
    exit;
}

(my $noise = $out) =~ s/\Q$json\E\s*\z//;
diag("sdk-interop.mjs said:\n$noise") if $noise =~ /\S/;

for my $c (@{ $res->{checks} }) {
    ok($c->{ok}, "$c->{name} ($c->{passed}/$c->{total})")
        or diag(join("\n", @{ $c->{failures} }));
}

my %checked = map { $_->{name} => 1 } @{ $res->{checks} };
for my $kind (qw(sse http-json http-sse)) {
    ok($checked{"$kind: close"}, "$kind: every step ran");
}
{
    my $failed = grep { !$_->{ok} } @{ $res->{checks} };
    is($failed, 0, "sdk-interop.mjs: no failed check (exit $rc)");
}
note(JSON::PP->new->canonical->pretty->encode($res->{stats}));


# ---- the access log: which worker served what

my (%stream, %posts, %pids);

for my $line (split /\n/, $t->read_file('interop.log') // '') {
    my ($pid, $method, $uri, $sid, $kind, $n, $msid, $status, $ctype) =
        $line =~ /^(\d+) (\S+) (\S+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" (\d+) "([^"]*)"/
        or next;
    next if $kind eq '';
    $pids{$pid} = 1;
    if ($kind eq 'sse' && $method eq 'GET') {
        $stream{$n} = $pid;
    } else {
        push @{ $posts{$kind}{$n} }, $pid;
    }
}

cmp_ok(scalar keys %pids, '>=', 3, 'requests were served by several workers ('
       . join(', ', sort keys %pids) . ')');

my $routed = grep {
    my $n = $_;
    defined $stream{$n} && grep { $_ != $stream{$n} } @{ $posts{sse}{$n} };
} keys %{ $posts{sse} // {} };
cmp_ok($routed, '>=', $SESSIONS / 2, "sse: replies routed to the stream's worker from"
       . " another one ($routed of $SESSIONS sessions)");

for my $kind (qw(http-json http-sse)) {
    my $spread = grep {
        my %w = map { $_ => 1 } @{ $posts{$kind}{$_} };
        keys %w >= 2;
    } keys %{ $posts{$kind} // {} };
    cmp_ok($spread, '>=', $SESSIONS / 2, "$kind: sessions served by several"
           . " workers ($spread of $SESSIONS)");
}

$t->done_testing();
