#!/usr/bin/perl

# The OTLP/HTTP exporter's own client (issue 12): an http:// endpoint is
# posted to over one keep-alive HTTP/1.1 connection per worker, without
# curl, against the fake collector (t/tools/otlp/fake-otlp.js, which
# decodes every export with the official OTLP schema and counts the
# connections that carried exports):
#   * a collector answering 200 (chunked, as Node does): several exports
#     on one connection, every span exported;
#   * Connection: close answers, and idle connections the collector
#     closes: a new connection each time, nothing lost;
#   * a reused connection the collector hangs up on without an answer:
#     the export is retried once on a new connection, nothing lost;
#   * 4xx and 5xx answers: the spans dropped and counted, the connection
#     kept (their bodies read), the next exports go through;
#   * a slow collector (past confhaven_otlp_timeout): the export fails and
#     is counted, requests are answered meanwhile, and the next exports
#     go through on a new connection;
#   * a collector that is down: requests answered, failures and drops
#     counted.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::Node;
use ConfHaven::FakeGraph;

plan(skip_all => 'node is needed for the fake collector')
    unless ConfHaven::FakeGraph->available;

my $otlp = ConfHaven::Node->new(dir => 'otlp', needed => [
    'node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js',
]);

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->needs_redis()
    ->worker_processes(1);

my $err = $otlp->install;
if (defined $err) {
    fail('install the fake collector (npm ci --prefix ' . $otlp->dir . ')');
    diag($err);
    done_testing();
    exit;
}

$t->plan(33);

my $J = JSON::PP->new->canonical;
my $node = ConfHaven::FakeGraph::node_binary();

my $clog = $t->testdir . '/fake-otlp.log';
my $cport = $t->port(8);
$t->run_daemon(sub {
    open STDOUT, '>>', $clog;
    open STDERR, '>&', \*STDOUT;
    exec $node, $otlp->path('fake-otlp.js'), $cport;
});
$t->wait_port(8, 15)
    or BAIL_OUT("the fake collector did not start: " . (`cat $clog` // ""));

sub collector {
    my ($what, $body) = @_;
    if (defined $body) {
        return $t->http('POST', "/_fake/$what", port => 8,
                        content_type => 'application/json',
                        body => $J->encode($body))->{json};
    }
    return $t->http('GET', "/_fake/$what", port => 8)->{json};
}

sub conf {
    my ($endpoint) = @_;
    return <<"EOF";
thread_pool otlp threads=4;

http {
    confhaven_pg_server "%%DSN%%";
    confhaven_thread_pool otlp;
    confhaven_otlp_endpoint $endpoint;
    confhaven_otlp_batch_size 4;
    confhaven_otlp_timeout 1s;
    confhaven_otlp_metrics_interval off;
    confhaven_trace_sample_ratio 1;

    server {
        listen 127.0.0.1:%%PORT_1%%;

        location = /metrics {
            confhaven_metrics on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }

        location / {
            confhaven_rest on;
        }
    }
}
EOF
}

sub scrape {
    my $r = $t->http('GET', '/metrics',
                     headers => ['Authorization' => 'Bearer ' . $t->admin_key]);
    my %s;
    for my $line (split /\n/, $r->{body} // '') {
        next if $line =~ /^#/ || $line eq '';
        my ($k, $v) = $line =~ /^(\S+(?:\{.*\})?) (\S+)$/ or next;
        $s{$k} = $v;
    }
    return \%s;
}

# n requests (each a server span at least); how many were answered 200
sub requests {
    my ($n) = @_;
    my $ok = 0;
    for (1 .. $n) {
        $ok++ if $t->http('GET', '/api/conferences')->{status} == 200;
    }
    return $ok;
}

# until the collector's count of spans holds still for longer than the
# 1 s export timer (the queue is empty, or its exports fail), or 20 s;
# then the worker's counters (the scrape's own span is in none yet)
sub settle {
    my $end = time() + 20;
    my $n = -1;
    while (time() < $end) {
        sleep(1.3);
        my $m = collector('stats')->{spans};
        last if $m == $n;
        $n = $m;
    }
    return (scrape(), collector('stats'));
}

$t->write_conf(conf("http://127.0.0.1:$cport/v1/traces"));
$t->run();

# ---- 200, several exports on one kept connection

my ($s, $st);
my $exports = 0;
for my $i (1 .. 4) {
    requests(6);
    ($s, $st) = settle();
}
ok($st->{requests} >= 4, "200: several exports ($st->{requests})");
is($st->{connections}, 1, '200: all of them on one keep-alive connection');
is(scalar @{$st->{errors}}, 0, '200: every export decoded')
    or diag(explain($st->{errors}));
is($s->{confhaven_spans_exported_total}, $st->{spans},
   '200: spans exported = spans the collector got');
is($s->{confhaven_spans_dropped_total} // 0, 0, '200: none dropped');
is($s->{confhaven_otlp_export_failures_total} // 0, 0, '200: none failed');

# ---- Connection: close on every answer

collector('mode', { close => JSON::PP::true });
my $conns = $st->{connections};
my $reqs = $st->{requests};
for my $i (1 .. 3) {
    requests(6);
    ($s, $st) = settle();
}
# the first of them went on the connection kept from before
my ($new, $sent) = ($st->{connections} - $conns, $st->{requests} - $reqs);
ok($sent >= 3 && $new >= $sent - 1 && $new <= $sent,
   "Connection: close: a new connection for each export ($new for $sent)");
is($s->{confhaven_spans_exported_total}, $st->{spans},
   'Connection: close: every span exported');
is($s->{confhaven_otlp_export_failures_total} // 0, 0,
   'Connection: close: no export failed');
collector('mode', { close => JSON::PP::false });

# ---- idle connections closed by the collector after 200 ms

collector('mode', { keepalive_ms => 200 });
requests(6);
($s, $st) = settle();
$conns = $st->{connections};
for my $i (1 .. 3) {
    sleep(0.6);
    requests(6);
    ($s, $st) = settle();
}
ok($st->{connections} - $conns >= 3,
   'idle close: each export after the close on a new connection');
is($s->{confhaven_spans_exported_total}, $st->{spans},
   'idle close: every span exported');
is($s->{confhaven_otlp_export_failures_total} // 0, 0,
   'idle close: no export failed');
collector('mode', { keepalive_ms => 5000 });

# ---- a reused connection hung up on: retried once on a new one

requests(6);
($s, $st) = settle();
$conns = $st->{connections};
collector('mode', { hangup => 1 });
requests(6);
($s, $st) = settle();
is($st->{hangups}, 1, 'hang-up: the collector hung up on one export');
is($st->{connections} - $conns, 1, 'hang-up: the export went on anew');
is($s->{confhaven_spans_exported_total}, $st->{spans},
   'hang-up: every span exported');
is($s->{confhaven_otlp_export_failures_total} // 0, 0,
   'hang-up: no export failed');
is($s->{confhaven_spans_dropped_total} // 0, 0, 'hang-up: none dropped');

# ---- 4xx and 5xx: dropped and counted, the connection kept

for my $status (400, 503) {
    my $before = scrape();
    $conns = collector('stats')->{connections};
    collector('mode', { status => $status });
    is(requests(6), 6, "$status: every request answered");
    ($s, $st) = settle();
    ok($s->{confhaven_otlp_export_failures_total}
       > ($before->{confhaven_otlp_export_failures_total} // 0),
       "$status: the failed exports counted");
    ok($s->{confhaven_spans_dropped_total}
       >= ($before->{confhaven_spans_dropped_total} // 0) + 6,
       "$status: their spans counted as dropped");
    collector('mode', { status => 200 });
    my $spans = $st->{spans};
    requests(6);
    ($s, $st) = settle();
    ok($st->{spans} >= $spans + 6, "$status, then 200: spans exported again");
    is($st->{connections}, $conns, "$status: the connection was kept");
}

# ---- a slow collector: the export times out, the next go through

my $before = scrape();
collector('mode', { delay_ms => 2500 });
is(requests(6), 6, 'slow: every request answered while an export waits');
($s, $st) = settle();
ok($s->{confhaven_otlp_export_failures_total}
   > ($before->{confhaven_otlp_export_failures_total} // 0),
   'slow: the timed-out export counted');
collector('mode', { delay_ms => 0 });
sleep(2);
my $spans = collector('stats')->{spans};
requests(6);
($s, $st) = settle();
ok($st->{spans} >= $spans + 6, 'slow, then fast: spans exported again');

# ---- a collector that is down

$t->stop();
my $down = $t->port(7);     # nothing listens there
$t->write_conf(conf("http://127.0.0.1:$down/v1/traces"));
$t->run();

is(requests(12), 12, 'down: every request answered');
($s) = settle();
ok(($s->{confhaven_otlp_export_failures_total} // 0) >= 1,
   'down: failed exports counted');
ok(($s->{confhaven_spans_dropped_total} // 0) >= 12,
   'down: their spans counted as dropped');
