#!/usr/bin/perl
# t/harness.t — smoke test of t/lib/ConfHaven/Test.pm itself, against the
# stock nginx with plain configs; the PostgreSQL and module parts are skipped
# when make test's servers / the .so are not there.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use ConfHaven::Test;

my $t = ConfHaven::Test->new()->plan(32);

# ---- unit: response parser (chunked body, repeated headers, JSON)
my $p = ConfHaven::Test::_parse_response(
    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\n"
    . "Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n5\r\n:[1]}\r\n0\r\n\r\n");
is($p->{status}, 201, 'parser: status');
is($p->{headers}{'x-a'}, '1, 2', 'parser: repeated headers joined, names lowercase');
is_deeply($p->{json}, { a => [1] }, 'parser: chunked JSON body decoded');

# ---- nginx -t on a bad config (reported, not counted as an alert)
$t->write_conf("server { listen 127.0.0.1:%%PORT_1%%; no_such_directive on; }\n");
my ($rc, $out) = $t->test_config();
isnt($rc, 0, 'nginx -t fails on a bad config');
like($out, qr/unknown directive "no_such_directive"/, 'nginx -t message');

# ---- a helper daemon: tiny HTTP server answering JSON
my $port2 = $t->port(2);    # allocate in the parent, before the fork
$t->run_daemon(sub {
    my $srv = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1',
                                    LocalPort => $port2, ReuseAddr => 1)
        or die "listen: $!";
    while (my $c = $srv->accept) {
        my $req = '';
        while (defined(my $l = <$c>)) { $req .= $l; last if $l eq "\r\n" }
        my $b = '{"fake":true}';
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            . "Content-Length: " . length($b) . "\r\nConnection: close\r\n\r\n$b";
        close $c;
    }
});
ok($t->wait_port(2), 'helper daemon listens');

# ---- inside-http form
$t->worker_processes(1)->write_conf(<<'EOF');
server {
    listen 127.0.0.1:%%PORT_1%%;
    client_max_body_size 10;

    location / {
        return 200 "hello\n";
    }
    location = /json {
        default_type application/json;
        return 200 '{"ok":true,"n":[1,2],"name":"caf\u00e9"}';
    }
    location = /echo-header {
        return 200 "[$http_x_test]";
    }
    location = /dir {
        return 200 "%%TESTDIR%%";
    }
    location = /proxy {
        proxy_pass http://127.0.0.1:%%PORT_2%%/;
    }
}
EOF
like($t->conf_text, qr/^worker_processes 1;$/m, 'worker_processes setting');
like($t->conf_text, qr/^daemon off;$/m, 'prelude written');
unlike($t->conf_text, qr/load_module/, 'no load_module without needs_module');

$t->run();
ok($t->pid, 'nginx runs');

my $r = $t->http('GET', '/');
is($r->{status}, 200, 'GET / status');
is($r->{body}, "hello\n", 'GET / body');

$r = $t->get_json('/json');
is($r->{headers}{'content-type'}, 'application/json', 'content-type header');
is_deeply($r->{json}, { ok => JSON::PP::true, n => [1, 2], name => "caf\x{e9}" },
          'get_json decodes');

$r = $t->http('GET', '/echo-header', headers => { 'X-Test' => 'abc' });
is($r->{body}, '[abc]', 'custom request header');

$r = $t->http('GET', '/dir');
is($r->{body}, $t->testdir, '%%TESTDIR%% placeholder');

$r = $t->http('POST', '/', body => "0123456789ABCDEF");
is($r->{status}, 413, 'request body sent (413 over client_max_body_size)');

$r = $t->post_json('/', { a => 1 });
is($r->{status}, 200, 'post_json');

$r = $t->raw("GARBAGE\r\n\r\n");
is($r->{status}, 400, 'raw malformed request gets 400');

$r = $t->raw(["GET / HTTP/1.0\r\n", "Host: x\r\n\r\n"], delay => 0.05);
is($r->{body}, "hello\n", 'raw request sent in chunks');

$r = $t->get_json('/proxy');
is_deeply($r->{json}, { fake => JSON::PP::true }, 'proxied to the helper daemon');

# ---- admin key
my $kf = $t->admin_key_file();
ok(-f $kf, 'admin key file exists');
is((stat $kf)[2] & 07777, 0600, 'admin key file mode 0600');
like($t->admin_key, qr/^[0-9a-f]{40}$/, 'admin key is 40 hex chars');

# ---- whole-config form + reload
$t->write_conf(<<'EOF');
http {
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 200 "reloaded\n"; }
    }
}
EOF
like($t->conf_text, qr/^http \{\n    client_body_temp_path /m, 'whole-config form keeps http {}');
$t->reload();
is($t->http('GET', '/')->{body}, "reloaded\n", 'reload picks up the new config');
ok($t->wait_log(qr/reconfiguring/, 5), 'wait_log sees the reload');

# ---- PostgreSQL (make test's private cluster)
SKIP: {
    skip 'no PostgreSQL (run via make test)', 2 unless $t->has_pg;
    like($t->db, qr/^host=\S+ port=\d+ dbname=ch_t_\d+_[0-9a-f]+ user=\S+$/, 'db() conninfo');
    $t->psql('CREATE TABLE harness_t (n int); INSERT INTO harness_t VALUES (1), (2);');
    is($t->psql('SELECT sum(n) FROM harness_t'), '3', 'psql() runs SQL in the test database');
}

# ---- the module (after ci/build)
SKIP: {
    skip 'no module .so or no PostgreSQL', 3 unless $t->has_module && $t->has_pg;
    $t->stop();
    $t->load_module(1)->worker_processes(2)->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
server {
    listen 127.0.0.1:%%PORT_1%%;
    location / { confhaven_rest on; }
}
EOF
    like($t->conf_text, qr/^load_module \S+ngx_http_confhaven_module\.so;$/m, 'load_module line');
    $t->run();
    $r = $t->get_json('/health');
    is($r->{status}, 200, 'module: /health status');
    ok(ref $r->{json} eq 'HASH', 'module: /health is JSON');
}
