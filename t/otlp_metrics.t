#!/usr/bin/perl

# The metrics over OTLP (issue 12): every confhaven_otlp_metrics_interval
# one worker POSTs the metrics zone to {endpoint}/v1/metrics as an
# ExportMetricsServiceRequest, decoded by the fake collector
# (t/tools/otlp/fake-otlp.js) with the official OTLP schema:
#   * after a known sequence of requests served by 3 workers, every counter
#     and histogram exported equals the Prometheus endpoint's (the same
#     zone), and the known ones have their known values;
#   * counters are monotonic cumulative Sums (named without "_total"),
#     histograms cumulative with the Prometheus buckets as explicit bounds,
#     gauges Gauges; the resource says service.name, host.name, process.pid;
#   * exactly one worker exports (one process.pid over all exports);
#   * nginx -t: a bad interval; an interval with an endpoint whose metrics
#     URL cannot be derived; `off` exports nothing.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;
use ConfHaven::Node;
use ConfHaven::FakeGraph;

plan(skip_all => 'node is needed for the fake collector')
    unless ConfHaven::FakeGraph->available;

my $otlp = ConfHaven::Node->new(dir => 'otlp', needed => [
    'node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js',
]);

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->needs_redis()
    ->worker_processes(3);

my $err = $otlp->install;
if (defined $err) {
    fail('install the fake collector (npm ci --prefix ' . $otlp->dir . ')');
    diag($err);
    done_testing();
    exit;
}

$t->private_redis();
$t->plan(30);

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
    or BAIL_OUT("the fake collector did not start: "
                . (`cat $clog` // ""));

sub collector {
    my ($what) = @_;
    return $t->http('GET', "/_fake/$what", port => 8)->{json};
}

# ---------------------------------------------------------------- nginx -t

for my $case (
    [ 'confhaven_otlp_metrics_interval 500ms;', qr/a time from 1s to 1d/,
      'interval under 1s' ],
    [ 'confhaven_otlp_metrics_interval soon;', qr/a time from 1s to 1d/,
      'interval not a time' ],
    [ 'confhaven_otlp_metrics_interval 10s;
       confhaven_otlp_metrics_interval 20s;', qr/is duplicate/,
      'interval twice' ],
  )
{
    my ($dirs, $re, $name) = @$case;
    $t->write_conf(<<"EOF");
http {
    confhaven_otlp_endpoint http://127.0.0.1:1/v1/traces;
    confhaven_thread_pool default;
    $dirs
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 204; }
    }
}
EOF
    my ($rc, $out) = $t->test_config;
    ok($rc != 0 && $out =~ $re, "nginx -t: $name") or diag($out);
}

$t->write_conf(<<"EOF");
http {
    confhaven_otlp_endpoint http://127.0.0.1:1/otlp/spans;
    confhaven_thread_pool default;
    confhaven_otlp_metrics_interval 10s;
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 204; }
    }
}
EOF
my ($rc, $out) = $t->test_config;
ok($rc != 0 && $out =~ /needs a "confhaven_otlp_endpoint" that ends in/,
   'nginx -t: no metrics URL from an endpoint not ending in /traces')
    or diag($out);

# ------------------------------------------------------------ the service

sub conf {
    my ($interval) = @_;
    return <<"EOF";
thread_pool otlp threads=2;

http {
    confhaven_pg_server "%%DSN%%";
    confhaven_redis_server redis://%%REDIS%%;
    confhaven_events_buffer 0;
    confhaven_thread_pool otlp;
    confhaven_otlp_endpoint http://127.0.0.1:%%PORT_8%%/v1/traces;
    confhaven_otlp_metrics_interval $interval;
    confhaven_otlp_service_name confhaven-metrics-test;

    log_format workers '\$pid \$confhaven_route';

    server {
        listen 127.0.0.1:%%PORT_1%% reuseport;
        access_log %%TESTDIR%%/workers.log workers;

        location = /mcp {
            confhaven_mcp on;
        }

        location = /metrics {
            confhaven_metrics on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }

        location / {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }
    }
}
EOF
}

$t->db();
$t->write_conf(conf('1s'));
$t->run();

my $m = ConfHaven::MCP->new($t, path => '/mcp');

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'import') or diag(substr($r->{body} // '', 0, 400));

# 30 searches, 10 connections at a time; 2 bad ones; 3 MCP tool calls
my $q = '/api/sessions?q=copilot&conference=scottish-summit-2026'
        . '&include_past=true&limit=3';
my $ok = 0;
for my $batch (1 .. 3) {
    my @h = map { $t->http_start('GET', $q) } 1 .. 10;
    $ok += grep { $_->{status} == 200 } $t->http_finish(@h);
}
is($ok, 30, '30 searches answered 200');

for (1 .. 2) {
    $r = $t->get_json('/api/sessions?limit=0');
}
is($r->{status}, 400, 'bad limit 400');

for (1 .. 3) {
    $r = $m->modern('tools/call', { name => 'search_sessions',
                                    arguments => { query => 'copilot',
                                                   include_past => JSON::PP::true(),
                                                   limit => 2 } });
}
is($r->{status}, 200, 'stateless tools/call');

my %pids = map { (split / /)[0] => 1 }
           grep { / search$/ } split /\n/, $t->read_file('workers.log') // '';
cmp_ok(scalar keys %pids, '>=', 2, 'searches served by several workers')
    or diag(join ' ', keys %pids);

# the log phases are done; then two exports, the second all after them
sleep(0.5);
my $before = collector('metrics')->{exports} // 0;
my $end = time() + 20;
my $x;
do {
    sleep(0.25);
    $x = collector('metrics');
} while ($x->{exports} < $before + 2 && time() < $end);

cmp_ok($x->{exports}, '>=', $before + 2, 'metrics exported every second');

my $stats = collector('stats');
is_deeply($stats->{errors}, [], 'every export decoded with the OTLP schema');

$r = $t->http('GET', '/metrics',
              headers => ['Authorization' => 'Bearer ' . $t->admin_key]);
is($r->{status}, 200, 'scrape');

my %prom;
for my $line (split /\n/, $r->{body} // '') {
    next if $line =~ /^#/ || $line eq '';
    my ($k, $v) = $line =~ /^(\S+(?:\{.*\})?) (\S+)$/ or next;
    $prom{$k} = $v;
}

my %otlp;        # name => metric
$otlp{$_->{name}} = $_ for @{$x->{metrics} // []};

sub labels {
    my ($a, %extra) = @_;
    my @kv = map { "$_=\"$a->{$_}\"" } sort keys %$a;
    return @kv ? '{' . join(',', @kv) . '}' : '';
}

# the Prometheus key with labels sorted, to match an OTLP point's
sub sorted_key {
    my ($k) = @_;
    my ($name, $l) = $k =~ /^([^{]+)(?:\{(.*)\})?$/;
    return $name unless defined $l;
    my @kv = $l =~ /(\w+="(?:[^"\\]|\\.)*")/g;
    return $name . '{' . join(',', sort @kv) . '}';
}
my %promsorted = map { sorted_key($_) => $prom{$_} } keys %prom;

# --- the known values

my $req = $otlp{confhaven_http_requests};
ok($req && $req->{type} eq 'sum' && $req->{monotonic}
   && $req->{temporality} == 2,
   'requests: a monotonic cumulative Sum named without _total')
    or diag($J->encode($req));

my ($p) = grep { ($_->{attributes}{route} // '') eq 'search'
                 && $_->{attributes}{code} eq '200' } @{$req->{points}};
is($p && $p->{value}, 30, 'OTLP: 30 searches, counted once across workers');
($p) = grep { ($_->{attributes}{route} // '') eq 'search'
              && $_->{attributes}{code} eq '400' } @{$req->{points}};
is($p && $p->{value}, 2, 'OTLP: 2 bad searches');

my $tc = $otlp{confhaven_mcp_tool_calls};
($p) = grep { $_->{attributes}{tool} eq 'search_sessions'
              && $_->{attributes}{wire} eq 'stateless' }
       @{$tc->{points} // []};
is($p && $p->{value}, 3, 'OTLP: 3 tool calls');

my $w = $otlp{confhaven_workers};
is($w && $w->{type}, 'gauge', 'workers: a Gauge');
is($w && $w->{points}[0]{value}, 3, 'OTLP: 3 workers');

my $h = $otlp{confhaven_http_request_duration_seconds};
ok($h && $h->{type} eq 'histogram' && $h->{temporality} == 2
   && $h->{unit} eq 's', 'duration: a cumulative Histogram in seconds')
    or diag($J->encode($h));
($p) = grep { ($_->{attributes}{route} // '') eq 'search' }
       @{$h->{points} // []};
is_deeply($p && $p->{explicit_bounds},
          [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
           30, 60], 'the Prometheus buckets as explicit bounds');
is($p && $p->{count}, 32, 'OTLP: 32 searches timed');
my $total = 0;
$total += $_ for @{$p->{bucket_counts} // []};
is($total, 32, 'bucket counts add up to the count');

like($otlp{confhaven_http_requests}{description} // '', qr/by route/,
     'the HELP text is the description');

is($x->{resource}{'service.name'}, 'confhaven-metrics-test',
   'resource service.name');
ok($x->{resource}{'host.name'}, 'resource host.name');
is(scalar @{$x->{pids} // []}, 1, 'one worker exports the metrics')
    or diag(join ' ', @{$x->{pids} // []});

my %starts = map { $_->{start} => 1 } map { @{$_->{points}} } values %otlp;
is(scalar keys %starts, 1, 'one start time: when counting began');

# --- every counter and histogram equals the scrape's

my ($same, @diff) = (0);
for my $mt (values %otlp) {
    next if $mt->{type} eq 'gauge';
    next if $mt->{name} =~ /otlp|spans/;      # they move with time

    for my $pt (@{$mt->{points}}) {
        next if ($pt->{attributes}{route} // '') eq 'metrics';

        if ($mt->{type} eq 'sum') {
            my $k = sorted_key($mt->{name} . '_total'
                               . labels($pt->{attributes}));
            if (($promsorted{$k} // 'none') eq $pt->{value}) {
                $same++;
            } else {
                push @diff, "$k: OTLP $pt->{value} Prometheus "
                            . ($promsorted{$k} // 'none');
            }
            next;
        }

        # histogram: _count, _sum and each cumulative bucket
        my $base = $mt->{name};
        my $k = sorted_key("${base}_count" . labels($pt->{attributes}));
        push @diff, "$k: OTLP $pt->{count} Prometheus "
                    . ($promsorted{$k} // 'none')
            unless ($promsorted{$k} // -1) == $pt->{count};
        $k = sorted_key("${base}_sum" . labels($pt->{attributes}));
        push @diff, "$k: OTLP $pt->{sum}"
            unless abs(($promsorted{$k} // -1) - $pt->{sum}) < 0.0005;

        my $cum = 0;
        my @le = (map({ 0 + $_ } @{$pt->{explicit_bounds}}), '+Inf');
        for my $i (0 .. $#{$pt->{bucket_counts}}) {
            $cum += $pt->{bucket_counts}[$i];
            my $le = $le[$i];
            my ($pk) = grep { /^\Q${base}_bucket\E\{/ && /le="\Q$le\E"/
                              && index($_, labels($pt->{attributes})
                                              =~ s/^\{|\}$//gr) >= 0 }
                       keys %prom;
            push @diff, "${base}_bucket le=$le: OTLP $cum Prometheus "
                        . ($pk ? $prom{$pk} : 'none')
                unless $pk && $prom{$pk} == $cum;
        }
        $same++;
    }
}
cmp_ok($same, '>=', 10, "$same series compared");
is_deeply(\@diff, [], 'every counter and histogram as the scrape says');

# ------------------------------------------------------------ off

$t->stop();
$t->write_conf(conf('off'));
$t->run();

$before = collector('metrics')->{exports};
$r = $t->get_json('/health');
sleep(2.5);
is(collector('metrics')->{exports}, $before,
   'confhaven_otlp_metrics_interval off: no metrics exported');

$t->stop();
