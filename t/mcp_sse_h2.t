#!/usr/bin/perl

# Legacy HTTP+SSE streams over HTTP/2 (issue 7, finding 5): two GET /sse on
# one h2c connection (prior knowledge; POSTs on HTTP/1.1 to a second port; a minimal HTTP/2 client below, since
# curl 7.88 fails multiplexing h2c with --parallel) are two streams with
# two sessions; the reply to a POST for session B arrives on B's stream,
# never on A's, and the other way round.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(2);

$t->plan(11);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%% http2;
    listen 127.0.0.1:%%PORT_2%%;

    location /sse {
        confhaven_mcp_sse on;
        confhaven_mcp_sse_keepalive 1s;
    }
}
EOF
$t->run();

my $port = $t->port(1);
my $dir = $t->testdir;

# both streams on one connection, kept open for 20 s at most
my $pid = fork();
die "fork: $!\n" unless defined $pid;
if ($pid == 0) {
    h2_client($port, 20, '/sse' => "$dir/a.out", '/sse' => "$dir/b.out");
    exit 0;
}


# A minimal h2c client: GETs on streams 1, 3, ... of one connection, the
# DATA of each written to its file as it arrives; SETTINGS and PING are
# acknowledged, nothing else is decoded (header blocks are not needed).
sub h2_client {
    my ($port, $seconds, @get) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "connect: $!\n";
    binmode $s;

    my $frame = sub {
        my ($type, $flags, $stream, $payload) = @_;
        my $len = length $payload;
        return pack('CnCCN', $len >> 16, $len & 0xffff, $type, $flags, $stream)
               . $payload;
    };
    my $str = sub { return chr(length $_[0]) . $_[0] };

    my $out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . $frame->(4, 0, 0, '');
    my (%file, $id);
    $id = 1;
    while (my ($path, $f) = splice @get, 0, 2) {
        open my $fh, '>', $f or die "$f: $!\n";
        $fh->autoflush(1);
        $file{$id} = $fh;
        # :method GET, :scheme http (static table), :path and :authority
        # literal with an indexed name, accept literal with a new name
        my $block = "\x82\x86" . "\x04" . $str->($path)
                    . "\x01" . $str->('localhost')
                    . "\x00" . $str->('accept') . $str->('text/event-stream');
        $out .= $frame->(1, 0x5, $id, $block);    # END_STREAM|END_HEADERS
        $id += 2;
    }
    syswrite($s, $out);

    my $buf = '';
    my $deadline = time() + $seconds;
    my $sel = IO::Select->new($s);
    while (time() < $deadline) {
        next unless $sel->can_read(0.5);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
        while (length $buf >= 9) {
            my ($l1, $l2, $type, $flags, $stream) = unpack('CnCCN', $buf);
            my $len = ($l1 << 16) | $l2;
            last if length $buf < 9 + $len;
            my $payload = substr($buf, 9, $len);
            substr($buf, 0, 9 + $len, '');
            $stream &= 0x7fffffff;
            if ($type == 0 && $file{$stream}) {
                print { $file{$stream} } $payload;
                # give the window back, for the stream and the connection
                syswrite($s, $frame->(8, 0, $stream, pack('N', $len))
                             . $frame->(8, 0, 0, pack('N', $len))) if $len;
            } elsif ($type == 4 && !($flags & 1)) {
                syswrite($s, $frame->(4, 1, 0, ''));
            } elsif ($type == 6 && !($flags & 1)) {
                syswrite($s, $frame->(6, 1, 0, $payload));
            } elsif ($type == 7) {
                last;
            }
        }
    }
    close $s;
}

sub slurp { my $f = shift; open my $fh, '<', $f or return ''; local $/; return <$fh> }

sub session_of {
    my ($f) = @_;
    my $deadline = time() + 10;
    while (time() < $deadline) {
        return $1 if slurp($f) =~ /sessionId=([0-9a-f]{32})/;
        sleep 0.05;
    }
    return undef;
}

my $sa = session_of("$dir/a.out");
my $sb = session_of("$dir/b.out");
ok($sa && $sb, 'two streams, each with its endpoint event');
isnt($sa // '', $sb // '', 'two sessions');

# one HTTP/2 connection: the error log names it "*N" for both streams
my @conn = map { $t->error_log =~ /\*(\d+) confhaven mcp: legacy SSE stream \Q$_\E opened/ ? $1 : -1 }
           ($sa // 'x', $sb // 'y');
ok($conn[0] > 0 && $conn[0] == $conn[1],
   "both streams on one connection (*$conn[0], *$conn[1])");

my $m = ConfHaven::MCP->new($t);

sub post_to {
    my ($sid, $id) = @_;
    return $t->http('POST', "/sse/messages?sessionId=$sid",
                    body => qq({"jsonrpc":"2.0","id":$id,"method":"ping"}),
                    content_type => 'application/json', port => 2);
}

sub wait_for {
    my ($f, $re) = @_;
    my $deadline = time() + 5;
    while (time() < $deadline) {
        return 1 if slurp($f) =~ $re;
        sleep 0.05;
    }
    return 0;
}

is(post_to($sb, 7101)->{status}, 202, 'POST for session B: 202');
ok(wait_for("$dir/b.out", qr/"id":7101/), "B's reply arrives on B's stream");
is(post_to($sa, 7202)->{status}, 202, 'POST for session A: 202');
ok(wait_for("$dir/a.out", qr/"id":7202/), "A's reply arrives on A's stream");

unlike(slurp("$dir/a.out"), qr/"id":7101/, "B's reply is not on A's stream");
unlike(slurp("$dir/b.out"), qr/"id":7202/, "A's reply is not on B's stream");

# several more, crossing both ways
post_to($_ % 2 ? $sa : $sb, 8000 + $_) for 1 .. 10;
# replies may arrive in any order (POSTs go to any worker): wait for all
my $all = 1;
for my $n (1 .. 10) {
    $all &&= wait_for($n % 2 ? "$dir/a.out" : "$dir/b.out",
                      qr/"id":@{[8000 + $n]}\b/);
}
ok($all, 'ten more replies arrived');
my ($ra, $rb) = (slurp("$dir/a.out"), slurp("$dir/b.out"));
is(join(',', grep { $ra =~ /"id":$_\b/ } map { 8000 + $_ } 1 .. 10)
   . ' | ' . join(',', grep { $rb =~ /"id":$_\b/ } map { 8000 + $_ } 1 .. 10),
   '8001,8003,8005,8007,8009 | 8002,8004,8006,8008,8010',
   'each reply on its own stream, once');

kill 'TERM', $pid;
waitpid $pid, 0;
