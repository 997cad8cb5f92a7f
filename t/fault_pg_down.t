#!/usr/bin/perl

# Faults under load, PostgreSQL side: a private cluster is stopped and
# started again while clients reset their connections (TCP RST, SO_LINGER
# 0) in the middle of REST reads (cached and not), /health, an import and
# an MCP tools/call.  While the database is down a query fails before the
# content handler returns (the pool backs off, or connecting fails at
# once); the request must then be answered or dropped exactly once:
# nginx's "http request count is zero" alert, a worker killed by a signal
# (MALLOC_PERTURB_ makes a use after free visible) or a 500 fail the file.
# Every answer seen is a 503/504 JSON error (never 500), the worker keeps
# serving when the database is back, and its descriptors come back to
# what they were.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;

# glibc reads it (a tunable) when nginx starts, before nginx rewrites its
# environment; the workers inherit the malloc state: freed memory gets
# overwritten, so a use after free crashes instead of passing unnoticed
$ENV{MALLOC_PERTURB_} = 165;

my $SLUG = 'community-developer-connect-2027';
my $ROUNDS = 4;

my $t = ConfHaven::Test->new()->needs_module()->worker_processes(1);
$t->private_pg();
$t->plan(15 + 5 * $ROUNDS);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
# the pool alone: no analytics writer taking connections on its timer
confhaven_events_buffer 0;
confhaven_pg_pool_size 2;
confhaven_pg_connect_timeout 2s;

server {
    listen 127.0.0.1:%%PORT_1%% deferred;

    location /mcp {
        confhaven_mcp on;
    }

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

my $m = ConfHaven::MCP->new($t);
my $json = $t->json;
my $key = $t->admin_key;
my $schedule = $t->read_file($t->samples_dir
                   . '/sessionize-all_community-developer-connect-2027.json');

my $imp = $t->import_file($SLUG, 'sessionize-all_community-developer-connect-2027.json',
                          name => 'Community Developer Connect 2027',
                          timezone => 'Europe/London');
is($imp->{status}, 200, 'sample imported') or diag($imp->{body});

sub worker_pid {
    my $mp = $t->pid;
    my @p = grep { /worker process/ } `ps --ppid $mp -o pid=,args=`;
    return @p && $p[0] =~ /^\s*(\d+)/ ? $1 : undef;
}

sub fds {
    my ($pid) = @_;
    opendir(my $d, "/proc/$pid/fd") or return -1;
    my $n = grep { !/^\./ } readdir $d;
    return $n;
}

my $tool_body = $json->encode({
    jsonrpc => '2.0', id => 1, method => 'tools/call',
    params => { name => 'list_conferences', arguments => {},
                _meta => $m->meta },
});

# what each kind of client sends
my %REQ = (
    conferences => [ 'GET', '/api/conferences' ],
    search      => [ 'GET', "/api/sessions?q=azure&conference=$SLUG" ],
    session     => [ 'GET', '/api/sessions/1' ],
    health      => [ 'GET', '/health' ],
    import      => [ 'POST', "/api/admin/conferences/$SLUG/import"
                             . '?name=Community+Developer+Connect+2027'
                             . '&timezone=Europe%2FLondon',
                     body => $schedule, content_type => 'application/json',
                     headers => [ Authorization => "Bearer $key" ] ],
    mcp         => [ 'POST', '/mcp', body => $tool_body,
                     content_type => 'application/json',
                     headers => [ Accept => 'application/json, text/event-stream',
                                  'MCP-Protocol-Version' => '2026-07-28',
                                  'Mcp-Method' => 'tools/call',
                                  'Mcp-Name' => 'list_conferences' ] ],
);
my @KINDS = sort keys %REQ;

# send the request, then reset the connection after `delay` seconds
sub rst {
    my ($kind, $delay) = @_;
    my ($method, $path, %o) = @{$REQ{$kind}};
    my $h = $t->http_start($method, $path, %o);
    sleep $delay if $delay;
    setsockopt($h->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $h->{sock};
}

sub ask {
    my ($kind) = @_;
    my ($method, $path, %o) = @{$REQ{$kind}};
    return $t->http($method, $path, %o, timeout => 20);
}

# a status a client can act on: 503/504 JSON while down
sub sensible_down {
    my ($kind, $r) = @_;
    my $s = $r->{status} // 0;
    return "$kind: no answer" unless $s;
    return "$kind: $s" unless $s == 503 || $s == 504
                              || ($kind eq 'mcp' && $s == 200);
    return "$kind: not JSON" unless ref $r->{json} eq 'HASH';
    if ($kind eq 'mcp') {
        # a tool error is a result with isError, or a JSON-RPC error
        my $j = $r->{json};
        return "$kind: neither isError nor error"
            unless $j->{error} || ($j->{result} && $j->{result}{isError});
    }
    return undef;
}

# ------------------------------------------------------- baseline, up

is(ask('conferences')->{status}, 200, 'conferences 200 while up');
is(ask('health')->{status}, 200, 'health 200 while up');
is(ask('mcp')->{status}, 200, 'tools/call 200 while up');

my $wpid = worker_pid();
ok($wpid, 'worker pid');
my $fd0 = fds($wpid);

# -------------------------------- down: the answer is known at once

$t->pg_stop('fast');

my @bad;
for my $round (1 .. 10) {
    for my $kind (@KINDS) {
        rst($kind, 0);
    }
}
for my $kind (@KINDS) {
    my $why = sensible_down($kind, ask($kind));
    push @bad, $why if $why;
}
is(join(', ', @bad), '', 'down: every kind answers 503/504 JSON after 60 resets');
is(worker_pid(), $wpid, 'down: the worker survived the resets');
is(scalar(() = $t->grep_log(qr/request count is zero/)), 0,
   'down: no request finalized twice');

# a request waiting for the pool when the reset comes
@bad = ();
for my $round (1 .. 5) {
    for my $kind (@KINDS) {
        rst($kind, 0.01 * $round);
    }
    push @bad, grep { $_ } map { sensible_down($_, ask($_)) } @KINDS;
}
is(join(', ', @bad), '', 'down: answers stay 503/504 with resets in between');

# -------------------------------- down and up again, several times

for my $round (1 .. $ROUNDS) {
    $t->pg_start();

    # resets while queries run, and answers that must succeed eventually
    my $ok = 0;
    my $t0 = time();
    while (time() - $t0 < 15) {
        rst($_, rand(0.02)) for @KINDS;
        my $r = ask('conferences');
        if (($r->{status} // 0) == 200) { $ok = 1; last }
        sleep 0.1;
    }
    ok($ok, "round $round: conferences 200 once PostgreSQL is back");

    # stopped while requests are in flight
    my @h = map { $t->http_start(@{$REQ{$_}}[0, 1], @{$REQ{$_}}[2 .. $#{$REQ{$_}}]) }
            @KINDS;
    rst($_, 0) for @KINDS;
    $t->pg_stop('fast');
    my @r = $t->http_finish(@h);
    my @odd;
    for my $i (0 .. $#KINDS) {
        my $s = $r[$i]{status} // 0;
        push @odd, "$KINDS[$i]: $s" if !$s || $s == 500;
    }
    is(join(', ', @odd), '', "round $round: requests in flight at the stop: no 500, no hang");

    rst($_, 0) for @KINDS, @KINDS;
    @bad = grep { $_ } map { sensible_down($_, ask($_)) } @KINDS;
    is(join(', ', @bad), '', "round $round: down again: 503/504 JSON");
    is(worker_pid(), $wpid, "round $round: same worker");
    is(scalar(() = $t->grep_log(qr/request count is zero/)), 0,
       "round $round: no request finalized twice");
}

# ------------------------------------------------------------ the end

$t->pg_start();
my $ok = 0;
my $t0 = time();
while (time() - $t0 < 15) {
    if ((ask('conferences')->{status} // 0) == 200) { $ok = 1; last }
    sleep 0.1;
}
ok($ok, 'conferences 200 at the end');
is(ask('health')->{status}, 200, 'health 200 at the end');
is(ask('mcp')->{status}, 200, 'tools/call 200 at the end');
is(ask('import')->{status}, 200, 'import 200 at the end');

# the resets close their connections a little later: wait for it
my $fd1 = fds($wpid);
for (1 .. 50) {
    last if $fd1 <= $fd0;
    sleep 0.1;
    $fd1 = fds($wpid);
}
cmp_ok($fd1, '<=', $fd0, "descriptors back to the baseline ($fd1 now, $fd0 before)");
is(worker_pid(), $wpid, 'the same worker served the whole file');
