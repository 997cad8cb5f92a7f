#!/usr/bin/perl

# Last-Event-ID across instances, the case t/mcp_multi_instance.t cannot
# set up (it needs a short session timeout): a session that expired in the
# zone of the instance that sent its events, used meanwhile on another
# instance, is imported again; its earlier event ids are then served from
# Redis, and its new ids never repeat them (stream and event numbers are
# the zone's in a cluster).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use ConfHaven::Test;
use ConfHaven::MCP;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(2);
my $t2 = ConfHaven::Test->new()->needs_module()->worker_processes(2);
$t->private_redis();
$t->plan(6);
my $conf = <<'EOF2';
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;
confhaven_redis_timeout 500ms;
confhaven_mcp_session_timeout 2s;
server {
    listen 127.0.0.1:%%PORT_1%%;
    location /mcp { confhaven_mcp on; }
}
EOF2
$t->write_conf($conf);
my $dsn = $t->db; my $redis = $t->redis;
(my $conf2 = $conf) =~ s/%%DSN%%/$dsn/; $conf2 =~ s/%%REDIS%%/$redis/;
$t2->write_conf($conf2);
$t->run(); $t2->run();
my $ha = ConfHaven::MCP->new($t, path => '/mcp');
my $hb = ConfHaven::MCP->new($t2, path => '/mcp');
my ($sid) = $ha->initialize('2025-11-25');
my $r = $ha->request('ping', undef, session => $sid, version => '2025-11-25',
                     accept => 'text/event-stream, application/json');
my @ev = $ha->events($r->{body});
is(scalar @ev, 2, 'priming + answer on A');
# used on B only for longer than the timeout: A's copy expires
for (1 .. 8) {
    $hb->request('ping', undef, session => $sid, version => '2025-11-25');
    sleep(0.4);
}
ok($t->redis_cli('PTTL', "confhaven:mcp:events:$sid") > 0,
   'the events live on with the session used on B');
# A's copy has expired; a new session on A moves the zone counters on
my ($sid2) = $ha->initialize('2025-11-25');
$ha->request('ping', undef, session => $sid2, version => '2025-11-25',
             accept => 'text/event-stream, application/json') for 1 .. 3;
my $g = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                             'Mcp-Session-Id' => $sid,
                                             'Last-Event-ID' => $ev[0]{id} ]);
my @re = $ha->events($g->{body});
ok($g->{status} == 200 && @re == 1 && $re[0]{id} eq $ev[1]{id},
   'A, the session imported again: its own earlier id replayed');
$t->redis_cli('RENAME', "confhaven:mcp:events:$sid", "confhaven:test:parked");
$g = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                             'Mcp-Session-Id' => $sid,
                                             'Last-Event-ID' => $ev[0]{id} ]);
is($g->{status}, 400, 'without the list in Redis: 400 (so it came from there)');
$t->redis_cli('RENAME', "confhaven:test:parked", "confhaven:mcp:events:$sid");
$r = $ha->request('ping', undef, session => $sid, version => '2025-11-25',
                  accept => 'text/event-stream, application/json');
my @n = $ha->events($r->{body});
ok(!grep({ $_->{id} eq $ev[0]{id} || $_->{id} eq $ev[1]{id} } @n), 'no id reused after re-import');
$g = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                          'Mcp-Session-Id' => $sid,
                                          'Last-Event-ID' => $n[0]{id} ]);
@re = $ha->events($g->{body});
ok($g->{status} == 200 && @re == 1 && $re[0]{id} eq $n[1]{id}, 'new id from the zone');
