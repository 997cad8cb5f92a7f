#!/usr/bin/perl

# DELETE /mcp of a session nobody knows writes nothing (issue 7, finding 4):
# with a (private) Redis, 50 DELETEs of random 32-character ids are each 404
# and Redis holds as many keys as before (no tombstone); a DELETE of a
# session that exists, here or only in Redis (made on another instance),
# ends it and leaves its tombstone, and every key the session left in Redis
# has a TTL.

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
$t->plan(13);

my $conf = <<'EOF';
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;
confhaven_redis_timeout 500ms;

server {
    listen 127.0.0.1:%%PORT_1%%;

    location /mcp {
        confhaven_mcp on;
    }
}
EOF

$t->write_conf($conf);

my $dsn = $t->db;
my $redis = $t->redis;
(my $conf2 = $conf) =~ s/%%DSN%%/$dsn/;
$conf2 =~ s/%%REDIS%%/$redis/;
$t2->write_conf($conf2);

$t->run();
$t2->run();

my $ma = ConfHaven::MCP->new($t);
my $mb = ConfHaven::MCP->new($t2);

sub dbsize { my $n = $t->redis_cli('DBSIZE'); $n =~ s/\D//g; return $n + 0 }

sub delete_session {
    my ($tt, $sid) = @_;
    return $tt->http('DELETE', '/mcp',
                     headers => [ 'Mcp-Session-Id' => $sid,
                                  'MCP-Protocol-Version' => '2025-06-18' ]);
}

# a live session, so that Redis is in use (and its workers subscribed)
my ($sid) = $ma->initialize('2025-06-18');
ok($sid, 'a session on A');

my $deadline = time() + 5;
sleep 0.1 until $t->redis_cli('EXISTS', "confhaven:mcp:session:$sid") =~ /1/
                || time() > $deadline;

my $before = dbsize();
ok($before >= 1, "Redis holds the session ($before keys)");

my @status;
for (1 .. 50) {
    my $id = join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
    push @status, delete_session($t, $id)->{status};
}

is(scalar(grep { $_ == 404 } @status), 50, '50 DELETEs of random ids: 404 each');
is(dbsize(), $before, 'Redis holds as many keys as before');
is($t->redis_cli('--scan', '--pattern', 'confhaven:mcp:deleted:*'), '',
   'no tombstone');

# the same on B, which may not know them either
my $id = 'f' x 32;
is(delete_session($t2, $id)->{status}, 404, 'a random DELETE on B: 404');
is(dbsize(), $before, 'nothing written by B either');

# every key in Redis has a TTL
my @keys = grep { length } split /\n/, $t->redis_cli('--scan');
is(scalar(grep { ($t->redis_cli('PTTL', $_) =~ /(-?\d+)/)[0] <= 0 } @keys), 0,
   'every key in Redis has a TTL (' . join(' ', @keys) . ')');


# ---- a session that exists: DELETE ends it and leaves a tombstone

is(delete_session($t, $sid)->{status}, 200, 'DELETE of the live session on A: 200');
like($t->redis_cli('PTTL', "confhaven:mcp:deleted:$sid"), qr/^\d+$/m,
     'its tombstone, with a TTL');
is($ma->request('ping', undef, session => $sid, version => '2025-06-18')->{status},
   404, 'the session is gone on A');

# made on A, known only in Redis when B deletes it
my ($sid2) = $ma->initialize('2025-06-18');
$deadline = time() + 5;
sleep 0.1 until $t->redis_cli('EXISTS', "confhaven:mcp:session:$sid2") =~ /1/
                || time() > $deadline;
is(delete_session($t2, $sid2)->{status}, 200,
   'DELETE on B of a session made on A: 200');
is($ma->request('ping', undef, session => $sid2, version => '2025-06-18')->{status},
   404, 'gone on A too');
