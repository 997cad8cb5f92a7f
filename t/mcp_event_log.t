#!/usr/bin/perl

# Event logs cannot starve the session zone (issue 7, finding 3): in a small
# zone (64k, the default confhaven_mcp_max_sessions derived from it), one
# session streams answer after answer (each logged for Last-Event-ID
# replay); the logs stay within their budget, so ten sessions made before
# and ten made after all still answer, and the newest answer can still be
# replayed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(2)->plan(5);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_mcp_zone mcp_sessions 64k;

server {
    listen 127.0.0.1:%%PORT_1%%;

    location /mcp {
        confhaven_mcp on;
    }
}
EOF
$t->run();

my $m = ConfHaven::MCP->new($t);
my $V = '2025-11-25';
my $SSE = 'text/event-stream, application/json';

sub ping { $m->request('ping', undef, session => $_[0], version => $V)->{status} }

my @before = map { ($m->initialize($V))[0] } 1 .. 10;
is(scalar(grep { defined } @before), 10, 'ten sessions');

# one session streams 40 answers of tools/list, each kept for replay
my ($x) = $m->initialize($V);
my ($bytes, @ev) = (0);
for (1 .. 40) {
    my $r = $m->request('tools/list', undef, session => $x, version => $V,
                        accept => $SSE);
    @ev = $m->events($r->{body});
    $bytes += length($r->{body} // '');
}
ok($bytes > 128 * 1024, "the session streamed $bytes bytes of answers");

my @after = map { ($m->initialize($V))[0] } 1 .. 10;
is(scalar(grep { defined } @after), 10, 'ten more sessions');

is(scalar(grep { ping($_) == 200 } @before, @after, $x), 21,
   'all 21 sessions answer: none was evicted for the log');

# the newest answer is still in the log: replayed after its priming event
my $g = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                              'Mcp-Session-Id' => $x,
                                              'Last-Event-ID' => $ev[0]{id} ]);
my @re = $m->events($g->{body});
ok(@re == 1 && $re[0]{json}{result}{tools}, 'the last answer is replayed');
