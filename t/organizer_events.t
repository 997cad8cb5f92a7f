#!/usr/bin/perl

# The event buffer (issue 10): events wait in a per-worker ring of
# confhaven_events_buffer slots and are written by a timer, never on the
# request path.  A worker that exits on reload writes what it holds; while
# PostgreSQL is down, cache hits are still counted, up to the bound; the
# rest are dropped and counted, and /health says so; once PostgreSQL is
# back, what was kept is written.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->worker_processes(1);
$t->private_pg();
$t->private_redis();
$t->plan(13);

# no timer flush during the test: only a worker's exit writes
$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_pg_connect_timeout 1s;
confhaven_redis_server redis://%%REDIS%%;
confhaven_events_buffer 5;
confhaven_events_flush_interval 60s;

server {
    listen 127.0.0.1:%%PORT_1%%;
    add_header X-Cache-Status $confhaven_cache_status always;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->ignore_alerts(qr/PostgreSQL|database|confhaven pg/);
$t->run();

is($t->import_file('scottish-summit-2026', 'sessionize-all_scottish-summit-2026.json',
                   name => 'Scottish Summit 2026',
                   timezone => 'Europe/London')->{status}, 200, 'import');

my $q = '/api/sessions?q=copilot&conference=scottish-summit-2026&include_past=true';

sub events { $t->psql('SELECT count(*) FROM confhaven.events') }

sub wait_events {
    my ($n) = @_;
    my $deadline = time + 15;
    my $got;
    while (time < $deadline) {
        $got = events();
        last if $got >= $n;
        sleep 0.2;
    }
    return $got;
}

$t->http('GET', $q) for 1 .. 3;
is(events(), 0, 'three searches: nothing written yet (60 s timer)');
my $h = $t->get_json('/health');
is($h->{json}{events}{buffered}, 3, '/health: 3 events buffered');

$t->reload();
is(wait_events(3), 3, 'a reload: the old worker writes its 3 events as it exits');

# PostgreSQL away: cache hits are still answered and counted, up to 5
$t->pg_stop();
my $hits = 0;
for (1 .. 8) {
    my $r = $t->http('GET', $q);
    $hits++ if $r->{status} == 200 && ($r->{headers}{'x-cache-status'} // '') eq 'HIT';
}
is($hits, 8, 'PostgreSQL down: 8 searches answered from the cache');
$h = $t->get_json('/health');
is($h->{status}, 503, '/health: 503 without the database');
is($h->{json}{events}{buffered}, 5, '... 5 events kept (confhaven_events_buffer 5)');
is($h->{json}{events}{dropped}, 3, '... 3 dropped, and counted');
is($h->{json}{events}{recorded}, 11,
   '... of 8 recorded (11 with the 3 before the reload: the totals are '
   . 'since nginx started)');

$t->pg_start();
my $deadline = time + 20;
do { sleep 0.3; $h = $t->get_json('/health') }
    until $h->{status} == 200 || time > $deadline;
is($h->{status}, 200, 'PostgreSQL back');

$t->reload();
is(wait_events(8), 8, 'the 5 kept events are written: 3 + 5');
is($t->psql("SELECT count(*) FROM confhaven.events WHERE cache_hit"), 7,
   '... the cache hits among them');
is($t->psql("SELECT sum(n) FROM confhaven.event_daily WHERE dim = 'searches'"), 8,
   '... and in the daily rollup');
