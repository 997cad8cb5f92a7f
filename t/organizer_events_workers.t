#!/usr/bin/perl

# /health's analytics-event counters are the instance's (issue 10): the
# workers' rings and totals summed in shared memory, not the numbers of the
# worker that happens to answer.  Two workers behind a reuseport listener
# (the kernel spreads connections over both); every /health answer, from
# either worker, shows all the events recorded, buffered and written.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(2);
$t->plan(9);

# no timer flush until asked: events stay in the rings
$t->write_conf(<<'EOF2');
confhaven_pg_server "%%DSN%%";
confhaven_events_flush_interval 60s;

server {
    listen 127.0.0.1:%%PORT_1%% reuseport;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF2
$t->run();

is($t->import_file('scottish-summit-2026', 'sessionize-all_scottish-summit-2026.json',
                   name => 'Scottish Summit 2026',
                   timezone => 'Europe/London')->{status}, 200, 'import');

# 30 searches, each on a connection of its own
my $ok = 0;
for my $i (1 .. 30) {
    my $r = $t->http('GET', "/api/sessions?q=copilot&conference=scottish-summit-2026"
                            . "&include_past=true&limit=$i");
    $ok++ if $r->{status} == 200;
}
is($ok, 30, '30 searches answered');

my (@rec, @buf, @workers);
for (1 .. 20) {
    my $h = $t->get_json('/health');
    push @rec, $h->{json}{events}{recorded} // -1;
    push @buf, $h->{json}{events}{buffered} // -1;
    push @workers, $h->{json}{events}{workers} // -1;
}
is_deeply([ sort { $a <=> $b } keys %{{ map { $_ => 1 } @rec }} ], [30],
          '/health: 30 events recorded, in every answer, whichever worker');
is_deeply([ sort { $a <=> $b } keys %{{ map { $_ => 1 } @buf }} ], [30],
          '... 30 buffered (both rings)');
is_deeply([ sort { $a <=> $b } keys %{{ map { $_ => 1 } @workers }} ], [2],
          '... over 2 workers');
my $h = $t->get_json('/health');
is($h->{json}{events}{capacity}, 2 * 4096, '... capacity: both rings');

# a reload: the old workers write their rings as they exit; the totals stay
$t->reload();
my $deadline = time + 20;
my $written = 0;
while (time < $deadline) {
    $written = $t->psql('SELECT count(*) FROM confhaven.events');
    last if $written >= 30;
    sleep 0.2;
}
is($written, 30, 'a reload: both old workers wrote their events');
$deadline = time + 10;
do { $h = $t->get_json('/health'); sleep 0.2 }
    until (($h->{json}{events}{written} // 0) == 30 && ($h->{json}{events}{workers} // 0) == 2)
          || time > $deadline;
is($h->{json}{events}{written}, 30, '/health: 30 written, by the workers gone');
is($h->{json}{events}{recorded}, 30, '... 30 recorded since nginx started');
