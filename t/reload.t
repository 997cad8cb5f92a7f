#!/usr/bin/perl

# nginx -s reload under load: a forked client does searches and /health for
# about 4 s, over keep-alive connections and new connections, while the
# master is reloaded twice. Every request gets 200; old workers exit (the
# worker count returns to worker_processes); no alerts in error.log.
#
# A keep-alive connection that an exiting old worker closed between two
# requests is retried once on a new connection, as HTTP clients do for an
# idempotent request that got no answer at all (RFC 9112, 9.3.1); such
# retries are counted and reported, not failures.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;

my $SLUG = 'community-developer-connect-2027';
my $WORKERS = 2;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes($WORKERS)->plan(9);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;
    keepalive_requests 1000;
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

sub workers {
    my $m = $t->pid;
    return map { /^\s*(\d+)/ ? $1 : () } grep { /worker process/ }
        `ps --ppid $m -o pid=,args=`;
}

my $imp = $t->import_file($SLUG, 'sessionize-all_community-developer-connect-2027.json',
                          name => 'Community Developer Connect 2027',
                          timezone => 'Europe/London');
is($imp->{status}, 200, 'sample imported') or diag($imp->{body});

my @before = workers();
is(scalar @before, $WORKERS, "$WORKERS workers at start");

# ---------------------------------------------------------- load client

my $port = $t->port(1);
my @paths = ('/health', "/api/sessions?q=cloud&conference=$SLUG",
             '/api/conferences', '/api/sessions?q=data+platform&limit=5');
my $result = $t->testdir . '/load.result';

sub connect_ { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => 5) }

# one request on $s; returns (status, close?) or () when the connection gave
# no byte at all (closed by the server before this request)
sub request {
    my ($s, $path, $close) = @_;
    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\n"
        . ($close ? "Connection: close\r\n" : '') . "\r\n";
    return () unless defined syswrite($s, $req);
    my $sel = IO::Select->new($s);
    my $buf = '';
    my ($head, $len, $status, $conn_close);
    my $deadline = time() + 10;
    while (1) {
        return (undef, 1, 'timeout') if time() > $deadline || !$sel->can_read(10);
        my $n = sysread($s, $buf, 65536, length $buf);
        if (!$n) {
            return () if $buf eq '';
            return (undef, 1, "connection closed mid-response: " . substr($buf, 0, 80));
        }
        if (!defined $head && (my $i = index($buf, "\r\n\r\n")) >= 0) {
            $head = substr($buf, 0, $i);
            substr($buf, 0, $i + 4, '');
            ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
            ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            $conn_close = $head =~ /^Connection:\s*close/mi ? 1 : 0;
            return (undef, 1, 'no Content-Length') unless defined $len;
        }
        return ($status, $conn_close, $status == 200 ? '' : "$status $buf")
            if defined $head && length $buf >= $len;
    }
}

my $child = fork();
die "fork: $!" unless defined $child;
if ($child == 0) {
    my %c = (ok => 0, fail => 0, retried => 0, conns => 0);
    my @errors;
    my $i = 0;
    my $end = time() + 4;
    my $ka;
    while (time() < $end) {
        my $path = $paths[$i++ % @paths];
        my $keepalive = $i % 3 != 0;        # 2 of 3 on a kept-alive connection
        my ($st, $cl, $why);
        for my $try (1, 2) {
            if (!$keepalive || !$ka) {
                $ka = connect_() or do { $why = "connect: $!"; last };
                $c{conns}++;
            }
            my $fresh = $c{conns};
            my @res = request($ka, $path, !$keepalive);
            if (!@res) {                    # stale keep-alive connection
                close $ka; undef $ka;
                $why = 'no answer on a new connection';
                $c{retried}++ if $try == 1;
                next;
            }
            ($st, $cl, $why) = @res;
            if ($cl || !$keepalive || !defined $st) { close $ka; undef $ka }
            last;
        }
        if (defined $st && $st == 200) { $c{ok}++ }
        else { $c{fail}++; push @errors, "$path: " . ($why // 'error') if @errors < 10 }
    }
    open my $fh, '>', $result or POSIX::_exit(2);
    print $fh join(' ', map { "$_=$c{$_}" } sort keys %c), "\n", map { "$_\n" } @errors;
    close $fh;
    POSIX::_exit(0);
}

sleep 1;
$t->reload();
sleep 1.2;
$t->reload();
waitpid($child, 0);
is($? >> 8, 0, 'load client finished');

my $out = $t->read_file('load.result') // '';
my ($line, @errors) = split /\n/, $out;
my %c = map { split /=/ } split / /, $line // '';
diag("load: $line");
cmp_ok($c{ok} // 0, '>', 20, 'the client made requests (> 20 answered 200)');
is($c{fail} // -1, 0, 'every request got 200 during two reloads') or diag(join "\n", @errors);

my @reconf = $t->grep_log(qr/: reconfiguring\s*$/);
is(scalar @reconf, 2, 'master reloaded twice');

my @now;
my $t0 = time();
while (time() - $t0 < 10) {
    @now = workers();
    last if @now == $WORKERS;
    sleep 0.1;
}
is(scalar @now, $WORKERS, "worker count back to $WORKERS (old workers exited)");
diag(sprintf 'old workers gone %.2f s after the load ended', time() - $t0);
my %old = map { $_ => 1 } @before;
is(scalar(grep { $old{$_} } @now), 0, 'the workers are new ones');
is($t->get_json('/health')->{status}, 200, 'health 200 after the reloads');
