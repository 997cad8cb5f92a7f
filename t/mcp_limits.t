#!/usr/bin/perl

# Abuse limits on MCP sessions (issue 7, finding 3): a flood of 5,000
# initialize requests from one address leaves the sessions of other clients
# (other source addresses: 127.0.0.2, 127.0.0.3, all of 127/8 is loopback)
# working; past confhaven_mcp_sessions_per_client a new session gets 503 +
# Retry-After with a JSON-RPC error, and so does one past
# confhaven_mcp_max_sessions; legacy GET /sse streams count the same; no
# live session is ever evicted, while idle ones are reclaimed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(sleep);

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(2)->plan(38);

my $conf = <<'EOF';
confhaven_pg_server "%%DSN%%";
confhaven_mcp_zone mcp_sessions 64k;
confhaven_mcp_session_timeout %%TIMEOUT%%;
confhaven_mcp_sessions_per_client 8;
confhaven_mcp_max_sessions 20;

server {
    listen 127.0.0.1:%%PORT_1%%;
    keepalive_requests 10000;

    location /mcp {
        confhaven_mcp on;
    }

    location /sse {
        confhaven_mcp_sse on;
    }
}

server {
    listen 127.0.0.1:%%PORT_2%%;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;

    location /mcp {
        confhaven_mcp on;
    }
}
EOF

(my $c1 = $conf) =~ s/%%TIMEOUT%%/1h/;
$t->write_conf($c1);
$t->run();

my $port = $t->port(1);
my $json = JSON::PP->new->canonical;


# one keep-alive connection from address $from, $n requests pipelined
# (written while the answers are read); the answers, parsed
sub pipeline {
    my ($from, $n, $req) = @_;

    my $s = IO::Socket::INET->new(LocalAddr => $from, PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp',
                                  Timeout => 10)
        or die "cannot connect from $from: $!\n";
    $s->blocking(0);
    binmode $s;

    my $out = $req x $n;
    my ($in, @r) = ('');
    my $sel = IO::Select->new($s);
    my $deadline = time() + 120;

    while (@r < $n && time() < $deadline) {
        my ($rd, $wr) = IO::Select->select($sel, length $out ? $sel : undef,
                                           undef, 1);
        if ($wr && @$wr) {
            my $w = syswrite($s, $out, 65536);
            substr($out, 0, $w, '') if $w;
        }
        if ($rd && @$rd) {
            my $got = sysread($s, $in, 65536, length $in);
            last if defined $got && $got == 0;
        }
        while (1) {
            my $i = index($in, "\r\n\r\n");
            last if $i < 0;
            my $head = substr($in, 0, $i);
            my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            $len //= 0;
            last if length($in) < $i + 4 + $len;
            my $body = substr($in, $i + 4, $len);
            substr($in, 0, $i + 4 + $len, '');
            my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
            my %h;
            $h{lc $1} = $2 while $head =~ /^([^:\r\n]+):\s*([^\r\n]*)/mg;
            push @r, { status => $status, headers => \%h, body => $body,
                       json => scalar eval { $json->decode($body) } };
        }
    }

    close $s;
    return @r;
}

sub request_bytes {
    my ($msg, %o) = @_;
    my $body = $json->encode($msg);
    my $h = "POST /mcp HTTP/1.1\r\nHost: localhost\r\n"
            . "Accept: application/json, text/event-stream\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n";
    $h .= "Mcp-Session-Id: $o{session}\r\n" if $o{session};
    $h .= "MCP-Protocol-Version: 2025-06-18\r\n" if $o{session};
    $h .= "Connection: close\r\n" if $o{close};
    return "$h\r\n$body";
}

my $init = request_bytes({ jsonrpc => '2.0', id => 1, method => 'initialize',
                           params => { protocolVersion => '2025-06-18',
                                       capabilities => {},
                                       clientInfo => { name => 'limits',
                                                       version => '1' } } });

sub initialize {
    my ($from, $n) = @_;
    return pipeline($from, $n // 1, $init);
}

sub ping {
    my ($from, $sid) = @_;
    my ($r) = pipeline($from, 1,
                       request_bytes({ jsonrpc => '2.0', id => 2,
                                       method => 'ping' },
                                     session => $sid));
    return $r->{status} // 0;
}

sub sids { map { $_->{headers}{'mcp-session-id'} } grep { $_->{status} == 200 } @_ }


# ---- behind a proxy: the address the realip module sets is the key

my $m = ConfHaven::MCP->new($t);
my @via;
for my $i (1 .. 9) {
    my ($sid, $r) = $m->initialize('2025-06-18', port => 2,
                                   headers => [ 'X-Forwarded-For' => '10.0.0.1' ]);
    push @via, [$sid, $r->{status}];
}
is(join(' ', map { $_->[1] } @via), '200 200 200 200 200 200 200 200 503',
   'X-Forwarded-For 10.0.0.1 (realip): 8 sessions, then 503');
my ($other, $ro) = $m->initialize('2025-06-18', port => 2,
                                  headers => [ 'X-Forwarded-For' => '10.0.0.2' ]);
is($ro->{status}, 200, 'another forwarded address through the same proxy: 200');
like($t->error_log, qr/client 10\.0\.0\.1 has 8 sessions/, 'logged with the real address');
for my $sid (grep { defined } $other, map { $_->[0] } @via) {
    $t->http('DELETE', '/mcp', port => 2,
             headers => [ 'Mcp-Session-Id' => $sid, 'MCP-Protocol-Version' => '2025-06-18',
                          'X-Forwarded-For' => '10.0.0.1' ]);
}

# IPv6: one host has a whole /64 and picks any address in it; the limit
# counts the /64 (2001:db8:1:2::/64), not each address
my @v6;
for my $i (1 .. 9) {
    my ($sid, $r) = $m->initialize('2025-06-18', port => 2,
                       headers => [ 'X-Forwarded-For' => "2001:db8:1:2::$i" ]);
    push @v6, [$sid, $r->{status}];
}
is(join(' ', map { $_->[1] } @v6), '200 200 200 200 200 200 200 200 503',
   'IPv6 addresses of one /64: 8 sessions, then 503');
my ($v6other, $rv6) = $m->initialize('2025-06-18', port => 2,
                       headers => [ 'X-Forwarded-For' => '2001:db8:1:3::1' ]);
is($rv6->{status}, 200, 'an address of the next /64: 200');
for my $sid (grep { defined } $v6other, map { $_->[0] } @v6) {
    $t->http('DELETE', '/mcp', port => 2,
             headers => [ 'Mcp-Session-Id' => $sid, 'MCP-Protocol-Version' => '2025-06-18',
                          'X-Forwarded-For' => '2001:db8:1:2::1' ]);
}

# ---- legacy GET /sse streams: the same per-address limit; a closed
# stream's session is gone at once (its place is free again)

sub open_sse {
    my ($from) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => $from, PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp',
                                  Timeout => 10)
        or die "cannot connect from $from: $!\n";
    print $s "GET /sse HTTP/1.1\r\nHost: localhost\r\n"
             . "Accept: text/event-stream\r\n\r\n";
    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = time() + 10;
    while (time() < $deadline && $buf !~ /sessionId=|\r\n\r\n.*\}/s) {
        last unless $sel->can_read(1) && sysread($s, $buf, 4096, length $buf);
    }
    my ($status) = $buf =~ m{^HTTP/1\.1 (\d+)};
    return { sock => $s, status => $status // 0, raw => $buf };
}

my @streams = map { open_sse('127.0.0.4') } 1 .. 8;
is(scalar(grep { $_->{status} == 200 } @streams), 8,
   '127.0.0.4 opens 8 legacy streams');
my $ninth = open_sse('127.0.0.4');
is($ninth->{status}, 503, 'its 9th GET /sse: 503');
like($ninth->{raw}, qr/^Retry-After: \d+/mi, 'with Retry-After');
like($ninth->{raw}, qr/too many sessions from this address/i,
     'and a JSON-RPC error naming the limit');
close $_->{sock} for @streams, $ninth;

my $reopened = 0;
for (1 .. 50) {
    my @again = map { open_sse('127.0.0.4') } 1 .. 8;
    $reopened = grep { $_->{status} == 200 } @again;
    close $_->{sock} for @again;
    last if $reopened == 8;
    sleep 0.2;
}
is($reopened, 8, 'once closed, their places are free: 8 streams again');

# wait until those are gone too (8 more can be opened, then closed)
for (1 .. 50) {
    my @again = map { open_sse('127.0.0.4') } 1 .. 8;
    my $n = grep { $_->{status} == 200 } @again;
    close $_->{sock} for @again;
    last if $n == 8;
    sleep 0.2;
}
sleep 0.5;


# ---- other clients hold live sessions

my @b = sids(initialize('127.0.0.2', 2));
my @c = sids(initialize('127.0.0.3', 2));
is(scalar(@b) + scalar(@c), 4, 'clients at 127.0.0.2 and .3 have 2 sessions each');
is(ping('127.0.0.2', $b[0]), 200, 'a session of 127.0.0.2 answers ping');


# ---- 5,000 initialize requests from one address

my @flood;
for (1 .. 10) {
    push @flood, initialize('127.0.0.1', 500);
}

is(scalar(@flood), 5000, '5,000 initialize answers');
my @ok = grep { $_->{status} == 200 } @flood;
my @busy = grep { $_->{status} == 503 } @flood;
is(scalar(@ok), 8, 'the flooding address got its 8 sessions (confhaven_mcp_sessions_per_client)');
is(scalar(@busy), 5000 - 8, 'every other one is 503');
is(scalar(grep { ($_->{headers}{'retry-after'} // '') =~ /^\d+$/ } @busy),
   scalar(@busy), 'each 503 has Retry-After');
is(scalar(grep { ($_->{json}{error}{code} // 0) == -32000
                 && ($_->{json}{id} // 0) == 1 } @busy),
   scalar(@busy), 'each 503 is a JSON-RPC error answering the request');
like($busy[0]{json}{error}{message} // '', qr/too many sessions from this address/i,
     'the message names the per-address limit');
ok(!grep({ $_->{headers}{'mcp-session-id'} } @busy), 'no session id on a 503');

is(scalar(grep { ping('127.0.0.2', $_) == 200 } @b), 2,
   'after the flood, both sessions of 127.0.0.2 still answer');
is(scalar(grep { ping('127.0.0.3', $_) == 200 } @c), 2,
   'after the flood, both sessions of 127.0.0.3 still answer');
my @a = sids(@ok);
is(scalar(grep { ping('127.0.0.1', $_) == 200 } @a), 8,
   'the flooding address keeps the sessions it got');


# ---- per-client cap for another address; global cap (20)

my @b2 = initialize('127.0.0.2', 8);
is(scalar(grep { $_->{status} == 200 } @b2), 6,
   '127.0.0.2 gets 6 more (8 in all), then 503');
is($b2[-1]{status}, 503, '127.0.0.2: its 9th is refused');

# 8 + 8 + 2 = 18 of 20
my @c2 = initialize('127.0.0.3', 4);
is(scalar(grep { $_->{status} == 200 } @c2), 2,
   '127.0.0.3 gets 2 more, the zone holds 20 (confhaven_mcp_max_sessions)');
is($c2[-1]{status}, 503, 'then 503 though 127.0.0.3 is under its own limit');
like($c2[-1]{json}{error}{message} // '', qr/no room/i,
     'the message says the server has no room');
ok(($c2[-1]{headers}{'retry-after'} // '') =~ /^\d+$/, 'with Retry-After');


# ---- legacy GET /sse counts the same, and is refused the same way

my ($g) = pipeline('127.0.0.3', 1,
                   "GET /sse HTTP/1.1\r\nHost: localhost\r\n"
                   . "Accept: text/event-stream\r\nConnection: close\r\n\r\n");
is($g->{status}, 503, 'GET /sse with the zone full: 503');
ok(($g->{headers}{'retry-after'} // '') =~ /^\d+$/, 'GET /sse 503 has Retry-After');

is(scalar(grep { ping('127.0.0.2', $_) == 200 } @b, sids(@b2)), 8,
   'all 8 sessions of 127.0.0.2 still answer');


# ---- DELETE frees a place at once

my ($d) = pipeline('127.0.0.2', 1,
                   "DELETE /mcp HTTP/1.1\r\nHost: localhost\r\n"
                   . "Mcp-Session-Id: $b[0]\r\nMCP-Protocol-Version: 2025-06-18\r\n"
                   . "Connection: close\r\n\r\n");
is($d->{status}, 200, 'DELETE of a session of 127.0.0.2');
my @b3 = initialize('127.0.0.2', 1);
is($b3[0]{status}, 200, 'then 127.0.0.2 may initialize one more');


# ---- idle sessions are reclaimed: a short timeout, every session idle

(my $c2conf = $conf) =~ s/%%TIMEOUT%%/1s/;
$t->write_conf($c2conf);
$t->reload();

sleep 2.5;

my @a2 = initialize('127.0.0.1', 1);
is($a2[0]{status}, 200, 'after the idle timeout 127.0.0.1 may initialize again');
my @c3 = initialize('127.0.0.3', 8);
is(scalar(grep { $_->{status} == 200 } @c3), 8,
   'and 127.0.0.3 gets its 8: the idle sessions were reclaimed');
is(ping('127.0.0.1', (sids(@a2))[0]), 200, 'the new session answers');

my $log = $t->error_log;
like($log, qr/client 127\.0\.0\.1 has 8 sessions, a new one is refused/,
     'the refusal is logged with the address');
like($log, qr/session zone is full \(20 sessions, at most 20\)/,
     'the full zone is logged');
