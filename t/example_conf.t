#!/usr/bin/perl

# conf/nginx.example.conf's plain-HTTP server on 8000 (the one the Docker
# image serves): run as written, with only the machine-specific parts
# replaced (port, database, file paths), it serves the web pages and the
# MCP endpoints the landing page points clients at, /mcp and /sse, also
# to a client that reaches it as http://127.0.0.1:8000 (docker run -p
# 8000:8000 on the same machine).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Cwd ();
use IO::Socket::INET;
use JSON::PP;
use Test::More;

use ConfHaven::Test;

my $ROOT = Cwd::abs_path("$FindBin::Bin/..");

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(7);

open(my $fh, '<', "$ROOT/conf/nginx.example.conf") or die "example: $!";
my $example = do { local $/; <$fh> };
close($fh);

my ($zone) = $example =~ /^\s*(limit_req_zone [^\n]*;)/m;
my ($server) = $example =~ /^(    server \{\n        listen 8000;.*?^    \})/ms;
die 'no limit_req_zone in the example' unless $zone;
die 'no server on 8000 in the example' unless $server;

$server =~ s/listen 8000;/listen 127.0.0.1:%%PORT_1%%;/;
$server =~ s{/usr/share/confhaven/html}{$ROOT/html}g;
$server =~ s{/etc/nginx/confhaven-web\.conf}{$ROOT/conf/confhaven-web.conf}g;
$server =~ s{/etc/nginx/confhaven/admin\.key}{%%ADMIN_KEY_FILE%%}g;
$server =~ s{allow 10\.0\.0\.0/8;}{allow 127.0.0.1;}g;

$t->write_conf(<<"EOF");
confhaven_pg_server "%%DSN%%";
default_type application/json;
$zone

$server
EOF
$t->run();

my $host = '127.0.0.1:' . $t->port(1);

sub initialize {
    my ($h) = @_;
    return $t->http('POST', '/mcp', host => $h,
        content_type => 'application/json',
        headers => [ Accept => 'application/json, text/event-stream' ],
        body => encode_json({ jsonrpc => '2.0', id => 1,
                              method => 'initialize',
                              params => { protocolVersion => '2025-06-18',
                                          capabilities => {},
                                          clientInfo => { name => 't',
                                                          version => '1' } } }));
}

my $r = $t->http('GET', '/', host => $host);
is($r->{status}, 200, 'the landing page is served');

$r = initialize($host);
is($r->{status}, 200, "POST /mcp (Host: $host): initialize answered");
like($r->{body} // '', qr/"protocolVersion"/, 'with a protocol version');

$r = initialize('localhost:' . $t->port(1));
is($r->{status}, 200, 'POST /mcp (Host: localhost) answered too');

$r = initialize('evil.example');
is($r->{status}, 403, 'another Host is still refused (DNS rebinding)');

# the legacy stream: its first event names the endpoint for the POSTs
my $s = IO::Socket::INET->new(PeerAddr => $host, Timeout => 5)
    or die "connect: $!";
print $s "GET /sse HTTP/1.1\r\nHost: $host\r\nAccept: text/event-stream\r\n\r\n";
my $got = '';
my $until = time + 10;
while (time < $until && $got !~ /event: endpoint\r?\ndata: [^\r\n]+\r?\n/) {
    my $n = sysread($s, my $buf, 4096);
    last unless $n;
    $got .= $buf;
}
close($s);
like($got, qr{^HTTP/1\.1 200}, 'GET /sse opens a stream');
like($got, qr{event: endpoint\r?\ndata: \S*session_?[iI]d=},
     'the stream names its message endpoint');

$t->done_testing();
