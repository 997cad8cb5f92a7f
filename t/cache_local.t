#!/usr/bin/perl

# confhaven_cache_local: each worker keeps finished answers (REST bodies
# and MCP tool results as sent) in a bounded LRU in front of Redis,
# kept coherent through Redis pub/sub.  Two instances (A and B, two
# workers each, reuseport so that connections spread over the workers)
# share one Redis and one database:
#   * a warm read is a LOCAL hit on every worker, REST and MCP alike, and
#     the warm MCP result is the cold one;
#   * an import through A: the next answer from every worker of A and of
#     B reflects it;
#   * Redis stalled (SIGSTOP): the tier steps aside (no LOCAL) within
#     confhaven_redis_timeout, and an import made meanwhile is seen at
#     once and after Redis resumes;
#   * Redis restarted (its pub/sub lost): the same;
#   * a third instance with the smallest tier (64k, one worker): the LRU
#     evicts, an answer larger than a quarter of the tier is never LOCAL,
#     and an entry does not outlive its TTL;
#   * bad directive values are refused.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;

my $SLUG = 'cl-conf';
my %FILE = (
    one => [ 'sessionize-all_scottish-summit-2026.json', 'Europe/London' ],
    two => [ 'sessionize-all_global-azure-linz-2024.json', 'Europe/Vienna' ],
);

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(2);
my $t2 = ConfHaven::Test->new()->needs_module()->worker_processes(2);
my $t3 = ConfHaven::Test->new()->needs_module()->worker_processes(1);
$t->private_redis();
$t->plan(39);

my $conf = <<'EOF';
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;
confhaven_redis_timeout 300ms;
confhaven_redis_connect_timeout 300ms;
confhaven_cache_local 4m;
server {
    listen 127.0.0.1:%%PORT_1%% reuseport;
    add_header X-Cache-Status $confhaven_cache_status always;
    add_header X-Worker $pid always;
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        client_max_body_size 32m;
        client_body_buffer_size 32m;
    }
    location = /mcp {
        confhaven_mcp on;
    }
    location = /metrics {
        confhaven_metrics on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF

$t->write_conf($conf);
my $dsn = $t->db;
my $redis = $t->redis;
for my $x ($t2, $t3) {
    (my $c = $conf) =~ s/%%DSN%%/$dsn/;
    $c =~ s/%%REDIS%%/$redis/;
    if ($x == $t3) {
        $c =~ s/confhaven_cache_local 4m;/confhaven_cache_local 64k;\nconfhaven_cache_ttl_search 1s;/;
        # a longer heartbeat lease: a loaded machine must not flush C's
        # tier in the middle of the LRU checks
        $c =~ s/confhaven_redis_timeout 300ms;/confhaven_redis_timeout 3s;/;
    }
    $x->write_conf($c);
}
$t->run();
$t2->run();
$t3->run();


sub import_as {
    my ($which) = @_;
    my ($file, $tz) = @{ $FILE{$which} };
    return $t->import_file($SLUG, $file, timezone => $tz, name => "CL $which");
}

is(import_as('one')->{status}, 200, 'import "one" through A');
is($t->import_file('cl-big', 'sessionize-all_scottish-summit-2026.json',
                   timezone => 'Europe/London', name => 'CL big')->{status}, 200,
   'import "cl-big" through A');
my $COUNT_PATH = "/api/sessions?conference=$SLUG&include_past=true&limit=1";
my $n_one = $t->get_json($COUNT_PATH)->{json}{total};
ok(defined $n_one && $n_one > 0, "conference one: $n_one sessions");

# the search answers of C by X-Cache-Status, for its metrics
my %c_caches;

sub get {
    my ($x, $path) = @_;
    my $r = $x->get_json($path);
    $c_caches{ lc($r->{headers}{'x-cache-status'} // '') }++ if $x == $t3;
    return {
        status => $r->{status},
        cache  => $r->{headers}{'x-cache-status'} // '',
        worker => $r->{headers}{'x-worker'} // '',
        count  => ref $r->{json} eq 'HASH' ? $r->{json}{total} : undef,
        size   => length($r->{body} // ''),
        json   => $r->{json},
    };
}

sub workers_of {
    my ($x) = @_;
    my $mp = $x->pid;
    return sort map { /^\s*(\d+)/ ? $1 : () }
        grep { /worker process/ } `ps --ppid $mp -o pid=,args=`;
}

# asks until every worker of $x has answered LOCAL (or 15 s); returns the
# workers seen LOCAL and all answers
sub warm_all {
    my ($x, $path) = @_;
    my %want = map { $_ => 1 } workers_of($x);
    my (%local, @all);
    my $deadline = time() + 15;
    while (time() < $deadline && keys %local < keys %want) {
        my $a = get($x, $path);
        push @all, $a;
        $local{$a->{worker}} = 1 if $a->{cache} eq 'LOCAL';
        sleep 0.01;
    }
    return ([ sort keys %local ], \@all);
}

# every worker of $x answers (40 tries at least, until each has been seen)
sub ask_all {
    my ($x, $path) = @_;
    my %want = map { $_ => 1 } workers_of($x);
    my (%seen, @all);
    my $deadline = time() + 15;
    while (time() < $deadline && (@all < 40 || keys %seen < keys %want)) {
        my $a = get($x, $path);
        push @all, $a;
        $seen{$a->{worker}} = 1;
    }
    return (scalar(keys %seen) == scalar(keys %want), \@all);
}

sub counts { my %c; $c{$_->{count} // 'none'}++ for @{ $_[0] }; join ',', map { "$_ x$c{$_}" } sort keys %c }
sub caches { my %c; $c{$_->{cache}}++ for @{ $_[0] }; join ',', map { "$_ x$c{$_}" } sort keys %c }

# ------------------------------------------------ warm on every worker

my ($la, $aa) = warm_all($t, $COUNT_PATH);
is_deeply($la, [ workers_of($t) ], 'A: every worker answers LOCAL once warm');
my ($lb, $ab) = warm_all($t2, $COUNT_PATH);
is_deeply($lb, [ workers_of($t2) ], 'B: every worker answers LOCAL once warm');
is(counts([ @$aa, @$ab ]), "$n_one x" . (@$aa + @$ab), 'every answer on the way: conference one');

my $local = get($t2, $COUNT_PATH);
my $fresh = $t->get_json($COUNT_PATH);
is_deeply($local->{json}, $fresh->{json}, 'a LOCAL answer is the one Redis holds');

# MCP: the result as sent, LOCAL on the next calls
my $mb = ConfHaven::MCP->new($t2, path => '/mcp');
sub tool {
    my ($args) = @_;
    my $r = $mb->modern('tools/call', { name => 'search_sessions', arguments => $args });
    return ($r->{headers}{'x-cache-status'} // '',
            ref $r->{json} eq 'HASH' ? $r->{json}{result} // {} : {},
            $r->{headers}{'x-worker'} // '');
}
my $TOOL_ARGS = { conference => $SLUG, include_past => JSON::PP::true(), limit => 5 };
my ($c0, $res0) = tool($TOOL_ARGS);
ok($c0 =~ /^(?:MISS|HIT|LOCAL)$/ && !$res0->{isError}, "MCP search on B: $c0, a result");
my (%mcp_local, $res_local);
for (1 .. 200) {
    my ($c, $res, $w) = tool($TOOL_ARGS);
    if ($c eq 'LOCAL') { $mcp_local{$w} = 1; $res_local = $res }
    last if keys %mcp_local == 2;
}
is(scalar(keys %mcp_local), 2, 'MCP search: LOCAL on both workers of B');
is_deeply($res_local, $res0, 'the LOCAL tool result is the cold one');

# ------------------------------------------------ import through A

is(import_as('two')->{status}, 200, 'import "two" through A (same slug)');
my ($okb, $allb) = ask_all($t2, $COUNT_PATH);
my ($oka, $alla) = ask_all($t, $COUNT_PATH);
my $n_two = $t->get_json("$COUNT_PATH&offset=0")->{json}{total};
ok($n_two && $n_two != $n_one, "conference two: $n_two sessions, not $n_one");
ok($okb && $oka, 'every worker of A and B answered');
is(counts([ @$alla, @$allb ]), "$n_two x" . (@$alla + @$allb),
   'after the import, every answer of every worker of A and B: conference two');
my ($c1, $res1) = tool($TOOL_ARGS);
isnt(JSON::PP->new->canonical->encode($res1), JSON::PP->new->canonical->encode($res0),
     "MCP on B after the import: a new result ($c1)");
ok(caches([ @$alla, @$allb ]) =~ /LOCAL/, 'and the tier is in use again: ' . caches([ @$alla, @$allb ]));

# ------------------------------------------------ Redis stalled

warm_all($_, $COUNT_PATH) for $t, $t2;
kill 'STOP', $t->redis_pid;
sleep 0.6;     # twice confhaven_redis_timeout
my @stalled = map { get($t2, $COUNT_PATH) } 1 .. 6;
is(scalar(grep { $_->{cache} eq 'LOCAL' } @stalled), 0,
   'Redis stalled: B never answers LOCAL (' . caches(\@stalled) . ')');
my $imp = import_as('one');
is($imp->{status}, 200, 'import "one" through A while Redis is stalled');
($okb, $allb) = ask_all($t2, $COUNT_PATH);
is(counts($allb), "$n_one x" . @$allb, 'every worker of B: conference one at once');
is(scalar(grep { $_->{cache} eq 'LOCAL' } @$allb), 0, 'none of them LOCAL');
kill 'CONT', $t->redis_pid;
# (Redis may keep the entries it held until their TTL: the invalidation
# could not reach it; the local tiers hold nothing older than Redis)
my ($lb2, $ab2) = warm_all($t2, $COUNT_PATH);
is(scalar(@$lb2), 2, 'Redis resumed: B answers LOCAL again');
is(import_as('one')->{status}, 200, 'import "one" again, Redis up');
($okb, $allb) = ask_all($t2, $COUNT_PATH);
($oka, $alla) = ask_all($t, $COUNT_PATH);
is(counts([ @$alla, @$allb ]), "$n_one x" . (@$alla + @$allb),
   'every worker of A and B: conference one');

# ------------------------------------------------ Redis restarted

warm_all($_, $COUNT_PATH) for $t, $t2;
$t->redis_stop();
my @down = map { get($t2, $COUNT_PATH) } 1 .. 6;
is(scalar(grep { $_->{cache} eq 'LOCAL' } @down), 0,
   'Redis stopped: B never answers LOCAL (' . caches(\@down) . ')');
is(import_as('two')->{status}, 200, 'import "two" through A while Redis is down');
$t->redis_start();
($lb2, $ab2) = warm_all($t2, $COUNT_PATH);
is(scalar(@$lb2), 2, 'Redis back: B answers LOCAL again');
is(counts($ab2), "$n_two x" . @$ab2, 'every answer of B since Redis stopped: conference two');
($oka, $alla) = ask_all($t, $COUNT_PATH);
is(counts($alla), "$n_two x" . @$alla, 'every worker of A: conference two');

# ------------------------------------------------ an invalidation Redis never ran

# CLIENT PAUSE WRITE holds EVAL and PUBLISH (reads go on): the import's
# invalidation waits its 5 s and times out, and the heartbeats that time
# out meanwhile make A drop the connection that carried it, so Redis never
# runs it.  When the pause ends, neither Redis nor a worker's tier may go
# on answering the old data: the invalidation is sent again.
warm_all($_, $COUNT_PATH) for $t, $t2;
$t->redis_cli('CLIENT', 'PAUSE', 12000, 'WRITE');
my $t0 = time();
$imp = import_as('one');
my $took = time() - $t0;
is($imp->{status}, 200, sprintf('import "one" through A while Redis holds writes (%.1f s)', $took));
sleep 0.2 while time() < $t0 + 12.5;
sleep 2.5;     # a retry every second
($okb, $allb) = ask_all($t2, $COUNT_PATH);
($oka, $alla) = ask_all($t, $COUNT_PATH);
is(counts([ @$alla, @$allb ]), "$n_one x" . (@$alla + @$allb),
   'after the pause, every worker of A and B: conference one ('
   . caches([ @$alla, @$allb ]) . ')');

# ------------------------------------------------ the bound (C: 64k, 1 worker)

my $P1 = "/api/sessions?conference=cl-big&include_past=true&limit=3&q=azure";
my ($lc) = warm_all($t3, $P1);
is(scalar(@$lc), 1, 'C: a small answer becomes LOCAL');
# other answers of several KB each, more than the tier holds
my @pages = map { get($t3, "/api/sessions?conference=cl-big&include_past=true&limit=5&offset=$_") }
            map { ($_, $_) } 1 .. 20;
my $psize = 0;
$psize += $_->{size} for @pages;
ok(grep({ $_->{cache} eq 'LOCAL' } @pages) >= 10,
   'C: they become LOCAL in turn (' . caches(\@pages) . ", $psize bytes)");
my $p1 = get($t3, $P1);
isnt($p1->{cache}, 'LOCAL', "C: the first answer was evicted ($p1->{cache})");
my $last = get($t3, "/api/sessions?conference=cl-big&include_past=true&limit=5&offset=20");
is($last->{cache}, 'LOCAL', 'C: the most recent one is still there');
my $BIG = "/api/sessions?conference=cl-big&include_past=true&limit=50";
my @big = map { get($t3, $BIG) } 1 .. 4;
ok($big[0]{size} > 16 * 1024
       && !grep({ $_->{cache} eq 'LOCAL' } @big),
   'C: an answer larger than a quarter of the tier is never LOCAL (' . caches(\@big) . ')');
warm_all($t3, $P1);
sleep 1.3;     # confhaven_cache_ttl_search 1s
my $late = get($t3, $P1);
isnt($late->{cache}, 'LOCAL', "C: not LOCAL past its TTL ($late->{cache})");

# the metrics count what X-Cache-Status said, LOCAL hits included
my $m = $t3->http('GET', '/metrics', headers => [ 'X-API-Key' => $t3->admin_key ]);
my %m_caches = map { /^confhaven_cache_requests_total\{route="search",result="(\w+)"\} (\d+)$/ ? ($1 => $2) : () }
               split /\n/, $m->{body} // '';
delete $c_caches{''};
is_deeply(\%m_caches, \%c_caches,
          'C: confhaven_cache_requests_total by result, local included ('
          . join(',', map { "$_ x$c_caches{$_}" } sort keys %c_caches) . ')');

# ------------------------------------------------ directive values

my $bad = ConfHaven::Test->new()->needs_module();
$bad->write_conf("confhaven_pg_server \"$dsn\";\nconfhaven_redis_server redis://$redis;\n"
                 . "confhaven_cache_local 1k;\n");
my ($rc, $out) = $bad->test_config;
ok($rc != 0 && $out =~ /"confhaven_cache_local" must be "off" or a size of at least 64k/,
   'confhaven_cache_local 1k: refused');
$bad->write_conf("confhaven_pg_server \"$dsn\";\nconfhaven_cache_local 1m;\n");
($rc, $out) = $bad->test_config;
ok($rc != 0 && $out =~ /"confhaven_cache_local" needs "confhaven_redis_server"/,
   'confhaven_cache_local without Redis: refused');
