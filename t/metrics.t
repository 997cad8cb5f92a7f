#!/usr/bin/perl

# confhaven_metrics: the Prometheus endpoint and what it counts, and the
# trace id in the module's error-log lines.
#
#   * counters exact after a known sequence of requests served by 4 workers
#     (reuseport spreads the connections): REST routes by status, cache
#     results, error codes, MCP methods by wire, tool calls, sessions;
#   * duration histograms: cumulative buckets, +Inf = _count = requests;
#   * `promtool check metrics` on the output (Debian's prometheus package);
#   * a real Prometheus server scraping the endpoint with the admin key,
#     asked through its HTTP API for a counter's value;
#   * access: no key / a wrong key 401, a location without a key 403,
#     deny 403, POST 405;
#   * PostgreSQL pool gauges: queries blocked behind a table lock show as
#     in use and queued, and go back to idle;
#   * an error-log line written for a request (a database error) carries
#     the request's trace id (traceparent header or MCP _meta) and its
#     $request_id, the one the answer and the access log show.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use IO::Socket::INET;

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg();

my $promtool = ConfHaven::Test::_which('promtool');
my $prometheus = ConfHaven::Test::_which('prometheus');

$t->private_redis();
$t->worker_processes(4);
$t->plan(63);

$t->db();
$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
# the pool alone: no analytics writer taking connections on its timer
confhaven_events_buffer 0;
confhaven_pg_pool_size 1;
confhaven_pg_queue_timeout 30s;
confhaven_pg_statement_timeout 30s;
confhaven_redis_server redis://%%REDIS%%/0;
add_header X-Cache-Status $confhaven_cache_status always;

log_format metrics '$pid $request_id $status $confhaven_route '
                   'trace=$confhaven_trace_id';

server {
    listen 127.0.0.1:%%PORT_1%% reuseport;

    access_log %%TESTDIR%%/metrics.log metrics;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }

    location = /mcp {
        confhaven_mcp on;
    }

    location = /metrics {
        confhaven_metrics on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }

    location = /metrics-nokey {
        confhaven_metrics on;
    }

    location = /metrics-denied {
        deny all;
        confhaven_metrics on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

my $key = $t->admin_key;
my $m = ConfHaven::MCP->new($t, path => '/mcp');


sub scrape {
    my $r = $t->http('GET', '/metrics',
                     headers => ['Authorization' => "Bearer $key"]);
    return $r;
}

# { "name{labels}" => value } of an exposition
sub samples {
    my ($body) = @_;
    my %s;
    for my $line (split /\n/, $body // '') {
        next if $line =~ /^#/ || $line eq '';
        my ($k, $v) = $line =~ /^(\S+(?:\{.*\})?) (\S+)$/ or next;
        $s{$k} = $v;
    }
    return \%s;
}


# ------------------------------------------------------------ the requests

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'import') or diag(substr($r->{body} // '', 0, 400));

# 40 searches of one query, 10 connections at a time
my $q = '/api/sessions?q=copilot&conference=scottish-summit-2026'
        . '&include_past=true&limit=3';
my ($ok, @cache) = (0);
for my $batch (1 .. 4) {
    my @h = map { $t->http_start('GET', $q) } 1 .. 10;
    for my $x ($t->http_finish(@h)) {
        $ok++ if $x->{status} == 200;
        push @cache, $x->{headers}{'x-cache-status'} // '';
    }
}
is($ok, 40, '40 searches answered 200');

for (1 .. 3) {
    $r = $t->get_json('/api/sessions/999999');
}
is($r->{status}, 404, 'unknown session 404');

for (1 .. 2) {
    $r = $t->get_json('/api/sessions?limit=0');
}
is($r->{status}, 400, 'bad limit 400');

$r = $t->get_json('/api/nothing-here');
is($r->{status}, 404, 'unknown route 404');

# MCP: 3 stateless tool calls, a Streamable HTTP session with tools/list
for my $i (1 .. 3) {
    $r = $m->modern('tools/call', { name => 'search_sessions',
                                    arguments => { query => 'copilot',
                                                   include_past => JSON::PP::true(),
                                                   limit => 2 } });
}
is($r->{status}, 200, 'stateless tools/call');

my ($sid) = $m->initialize('2025-11-25');
ok($sid, 'session made');
$r = $m->request('tools/list', {}, session => $sid, version => '2025-11-25');
is($r->{status}, 200, 'tools/list in the session');

my %pids = map { (split / /)[0] => 1 }
           grep { / search / } split /\n/, $t->read_file('metrics.log') // '';
cmp_ok(scalar keys %pids, '>=', 2, 'searches served by several workers')
    or diag(join ' ', keys %pids);


# ---------------------------------------------------------------- scrape

$r = scrape();
is($r->{status}, 200, 'metrics 200');
like($r->{headers}{'content-type'} // '', qr{^text/plain; version=0\.0\.4},
     'exposition content type');

my $body = $r->{body};
my $s = samples($body);

is($s->{'confhaven_http_requests_total{route="search",code="200"}'}, 40,
   'search 200 counted once each across workers');
is($s->{'confhaven_http_requests_total{route="import",code="200"}'}, 1,
   'import counted');
is($s->{'confhaven_http_requests_total{route="session",code="404"}'}, 3,
   'session 404s counted');
is($s->{'confhaven_http_requests_total{route="search",code="400"}'}, 2,
   'search 400s counted');
is($s->{'confhaven_http_requests_total{route="unmatched",code="404"}'}, 1,
   'unmatched route counted');
is($s->{'confhaven_http_errors_total{route="search",error="bad_parameter"}'},
   2, 'error code counted');
is($s->{'confhaven_http_errors_total{route="session",error="not_found"}'},
   3, 'not_found counted');

my $hit = $s->{'confhaven_cache_requests_total{route="search",result="hit"}'}
          // 0;
my $miss = $s->{'confhaven_cache_requests_total{route="search",result="miss"}'}
           // 0;
is($hit + $miss, 40, 'every search is a hit or a miss');
is($hit, scalar(grep { $_ eq 'HIT' } @cache), 'hits as X-Cache-Status said');
cmp_ok($miss, '>=', 1, 'the first search missed');

is($s->{'confhaven_mcp_requests_total{wire="stateless",method="tools/call"}'},
   3, 'stateless tools/call counted');
is($s->{'confhaven_mcp_tool_calls_total{tool="search_sessions",wire="stateless"}'},
   3, 'tool calls counted');
is($s->{'confhaven_mcp_requests_total{wire="streamable_http",method="initialize"}'},
   1, 'initialize counted');
is($s->{'confhaven_mcp_requests_total{wire="streamable_http",method="tools/list"}'},
   1, 'tools/list counted');
is($s->{'confhaven_mcp_requests_total{wire="streamable_http",method="notifications/initialized"}'},
   1, 'notification counted');
is($s->{'confhaven_mcp_sessions{wire="streamable_http"}'}, 1, 'one session');
is($s->{'confhaven_mcp_sessions_created_total'}, 1, 'sessions created');
is($s->{'confhaven_workers'}, 4, 'four workers report gauges');

# histograms
my @b = map { $s->{"confhaven_http_request_duration_seconds_bucket{route=\"search\",le=\"$_\"}"} }
        qw(0.001 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 +Inf);
is(scalar(grep { defined } @b), 15, 'all 15 buckets');
ok(!grep({ $b[$_] < $b[$_ - 1] } 1 .. $#b), 'buckets are cumulative');
# 40 searches and 2 refused
is($b[-1], 42, '+Inf bucket = requests of the route');
is($s->{'confhaven_http_request_duration_seconds_count{route="search"}'}, 42,
   '_count = requests of the route');
like($s->{'confhaven_http_request_duration_seconds_sum{route="search"}'} // '',
     qr/^\d+\.\d{3}$/, '_sum in seconds');
is($s->{'confhaven_mcp_tool_call_duration_seconds_count{tool="search_sessions"}'},
   3, 'tool histogram count');

SKIP: {
    skip 'no promtool (Debian package prometheus)', 1 unless $promtool;
    $t->write_file('scrape.txt', $body);
    my $out = `$promtool check metrics < @{[$t->testdir]}/scrape.txt 2>&1`;
    is($? >> 8, 0, 'promtool check metrics') or diag($out);
}


# ----------------------------------------------------------------- access

$r = $t->http('GET', '/metrics');
is($r->{status}, 401, 'no key 401');
like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, 'WWW-Authenticate');
$r = $t->http('GET', '/metrics', headers => ['X-API-Key' => 'x' x 40]);
is($r->{status}, 401, 'wrong key 401');
$r = $t->http('GET', '/metrics-nokey',
              headers => ['Authorization' => "Bearer $key"]);
is($r->{status}, 403, 'location without a key 403');
$r = $t->http('GET', '/metrics-denied',
              headers => ['Authorization' => "Bearer $key"]);
is($r->{status}, 403, 'deny 403');
$r = $t->http('POST', '/metrics', body => 'x',
              headers => ['Authorization' => "Bearer $key"]);
is($r->{status}, 405, 'POST 405');
$s = samples(scrape()->{body});
is($s->{'confhaven_http_requests_total{route="metrics",code="401"}'}, 2,
   'refused scrapes counted: 401');
is($s->{'confhaven_http_requests_total{route="metrics",code="403"}'}, 2,
   'refused scrapes counted: 403 (no key, deny)');

# the admin key is read as on every other route: extra blanks after
# "Bearer", an empty X-API-Key before the real one
$r = $t->http('GET', '/metrics', headers => ['Authorization' => "Bearer  $key"]);
is($r->{status}, 200, 'Bearer with two blanks accepted, as on organizer routes');
$r = $t->http('GET', '/metrics',
              headers => ['X-API-Key' => '', 'X-API-Key' => $key]);
is($r->{status}, 200, 'an empty X-API-Key before the key is skipped');


# ------------------------------------------------------- pool gauges

# searches block behind an exclusive lock: 8 queries, at most 4 connections
$t->run_daemon(sub {
    $t->psql("BEGIN; LOCK TABLE confhaven.sessions IN ACCESS EXCLUSIVE MODE;"
             . " SELECT pg_sleep(25); COMMIT;", allow_error => 1);
});
for (1 .. 100) {
    last if $t->psql("SELECT count(*) FROM pg_locks WHERE granted AND mode ="
                     . " 'AccessExclusiveLock' AND relation ="
                     . " 'confhaven.sessions'::regclass") eq '1';
    sleep(0.1);
}
my @slow = map { $t->http_start('GET', "/api/sessions?q=slow$_"
                                . '&include_past=true', timeout => 30) } 1 .. 8;
# each worker writes its gauges every second
my ($busy, $queued);
for (1 .. 40) {
    sleep(0.5);
    $s = samples(scrape()->{body});
    $busy = $s->{'confhaven_pg_connections{state="in_use"}'} // -1;
    $queued = $s->{'confhaven_pg_queued_requests'} // -1;
    last if $busy + $queued == 8;
}
cmp_ok($busy, '>=', 1, "blocked queries hold connections ($busy)");
cmp_ok($queued, '>=', 4, "the others are queued ($queued)");
is($busy + $queued, 8, 'in use + queued = the 8 queries');
is($s->{'confhaven_pg_connections_max'}, 4, 'pool size 1 x 4 workers');

# end the lock (cancel the pg_sleep: the transaction rolls back)
$t->psql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
         . " WHERE query LIKE '%pg_sleep(25)%' AND pid <> pg_backend_pid()");
my @done = $t->http_finish(@slow);
is(scalar(grep { $_->{status} == 200 } @done), 8, 'blocked queries answered');
sleep(1.5);
$s = samples(scrape()->{body});
is($s->{'confhaven_pg_connections{state="in_use"}'}, 0, 'none in use after');
is($s->{'confhaven_pg_queued_requests'}, 0, 'none queued after');
cmp_ok($s->{'confhaven_pg_connections{state="idle"}'} // 0, '>=', 1, 'idle');
is($s->{'confhaven_redis_connections{state="ok"}'}, 4, 'Redis ok in 4 workers');


# ------------------------------------------------------------- Prometheus

SKIP: {
    skip 'no prometheus (Debian package prometheus)', 1 unless $prometheus;

    my $pport = $t->port(9);
    my $port = $t->port(1);
    $t->write_file('prometheus.yml', <<"EOF");
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: confhaven
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: @{[$t->admin_key_file]}
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
    my $dir = $t->testdir;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', "$dir/prometheus.log";
        open STDERR, '>&', \*STDOUT;
        exec $prometheus, "--config.file=$dir/prometheus.yml",
             "--storage.tsdb.path=$dir/prometheus-data",
             "--web.listen-address=127.0.0.1:$pport";
        exit 127;
    }

    my $value;
    my $query = 'confhaven_http_requests_total%7Broute%3D%22search%22%2C'
                . 'code%3D%22200%22%7D';
    for (1 .. 120) {
        sleep(0.5);
        my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$pport",
                                         Timeout => 2) or next;
        print $sock "GET /api/v1/query?query=$query HTTP/1.0\r\n"
                    . "Host: 127.0.0.1\r\n\r\n";
        local $/;
        my $resp = <$sock> // '';
        close $sock;
        if ($resp =~ /"value":\[[\d.]+,"(\d+)"\]/) {
            $value = $1;
            last;
        }
    }
    kill 'TERM', $pid;
    waitpid($pid, 0);
    # the 40 searches and the 8 slow ones
    is($value, 48, 'Prometheus scraped the search counter')
        or diag($t->read_file('prometheus.log'));
}


# ---------------------------------------------------- error log joins up

$t->psql('ALTER FUNCTION confhaven.api_session(bigint) '
         . 'RENAME TO api_session_gone');

my $trace = '4bf92f3577b34da6a3ce929d0e0e4736';
$r = $t->get_json('/api/sessions/1',
                  headers => ['traceparent' => "00-$trace-00f067aa0ba902b7-01"]);
is($r->{status}, 503, 'database error answered');
my $rid = (ref $r->{json} eq 'HASH' && $r->{json}{error})
          ? $r->{json}{error}{request_id} // '' : '';

my $mtrace = '0af7651916cd43dd8448eb211c80319c';
$r = $m->modern('tools/call', {
    name => 'get_session', arguments => { session_id => 1 },
    _meta => $m->meta(traceparent => "00-$mtrace-b7ad6b7169203331-01") });
is($r->{status}, 200, 'MCP tool call with a database error');

$t->psql('ALTER FUNCTION confhaven.api_session_gone(bigint) '
         . 'RENAME TO api_session');

my @lines = grep { /\[error\].*confhaven/ } split /\n/, $t->error_log;
my ($rest) = grep { /trace_id: $trace/ } @lines;
like($rest // '', qr/confhaven pg: query failed.*, trace_id: $trace, request_id: $rid$/,
     'REST error line carries the trace id and request id')
    or diag(join "\n", @lines);
my ($mcp) = grep { /trace_id: $mtrace/ } @lines;
like($mcp // '', qr/confhaven pg: query failed \(request ([0-9a-f]{32})\).*, request_id: \1$/,
     'MCP error line carries the _meta trace id')
    or diag(join "\n", @lines, $r->{body});
like($t->read_file('metrics.log') // '', qr/ $rid 503 session trace=$trace$/m,
     'the access log has the same request id, and the REST trace id');


# ----------------------------------------------------------------- reload

# the zone is kept: counters go on; the new workers report their gauges
$t->reload();
sleep(1.5);
$s = samples(scrape()->{body});
is($s->{'confhaven_http_requests_total{route="search",code="200"}'}, 48,
   'counters survive a reload');
is($s->{'confhaven_workers'}, 4, 'gauges of the new workers only');
