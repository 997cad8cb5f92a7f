#!/usr/bin/perl

# `nginx -t` for the Redis cache directives: bad values fail with a clear
# [emerg] naming the problem; good ones pass.  Nothing connects to Redis at
# configuration time (host names are resolved, though), so the good configs
# point at 127.0.0.1 port 1 and at a socket that does not exist.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;

my $t = ConfHaven::Test->new()->needs_module()->plan(45);

my $DSN = 'host=127.0.0.1 port=1 dbname=confhaven user=confhaven';
my $pw = $t->write_file('redis.password', "secret\n", 0600);

sub conf {
    my ($http, $loc) = @_;
    return qq{confhaven_pg_server "$DSN";\n$http\n} . <<"EOF";
server {
    listen 127.0.0.1:%%PORT_1%%;
    location / {
        confhaven_rest on;
        @{[ $loc // '' ]}
    }
}
EOF
}

sub bad {
    my ($name, $conf, $re) = @_;
    $t->write_conf($conf);
    my ($rc, $out) = $t->test_config();
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\][^\n]*$re/, "$name: emerg message") or diag($out);
}

sub good {
    my ($name, $conf) = @_;
    $t->write_conf($conf);
    my ($rc, $out) = $t->test_config();
    is($rc, 0, "$name: nginx -t passes") or diag($out);
}

# ------------------------------------------------------------ good ones

good('redis://127.0.0.1', conf('confhaven_redis_server redis://127.0.0.1;'));
good('redis://localhost:1/3 (a name, a port, a database)',
     conf('confhaven_redis_server redis://localhost:1/3;'));
good('unix socket with ?db=2', conf('confhaven_redis_server unix:/nonexistent/redis.sock?db=2;'));
good('every cache directive', conf(<<"EOF", <<'LOC'));
confhaven_redis_server redis://127.0.0.1:1/0;
confhaven_redis_password_file $pw;
confhaven_redis_timeout 50ms;
confhaven_redis_connect_timeout 2s;
confhaven_cache on;
confhaven_cache_ttl_search 1s;
confhaven_cache_ttl_document 2h;
EOF
confhaven_cache off;
        confhaven_cache_ttl_search 10m;
LOC
good('cache directives without confhaven_redis_server',
     conf("confhaven_cache on;\nconfhaven_cache_ttl_search 30s;"));

# ------------------------------------------------------------- bad URLs

bad('http:// URL', conf('confhaven_redis_server http://x;'),
    qr/invalid value "http:\/\/x" in "confhaven_redis_server".*redis:\/\/host/);
bad('password inside the URL', conf('confhaven_redis_server redis://:pw@127.0.0.1;'),
    qr/"confhaven_redis_server".*confhaven_redis_password_file/);
bad('user and password inside the URL', conf('confhaven_redis_server redis://u:pw@127.0.0.1:6379/0;'),
    qr/confhaven_redis_password_file/);
bad('unresolvable host', conf('confhaven_redis_server redis://no-such-host.invalid:6379;'),
    qr/host "no-such-host\.invalid" in "confhaven_redis_server" could not be resolved/);
bad('port 0', conf('confhaven_redis_server redis://127.0.0.1:0;'),
    qr/invalid value "redis:\/\/127\.0\.0\.1:0"/);
bad('port 70000', conf('confhaven_redis_server redis://127.0.0.1:70000;'),
    qr/invalid value "redis:\/\/127\.0\.0\.1:70000"/);
bad('database not a number', conf('confhaven_redis_server redis://127.0.0.1/x;'),
    qr/invalid value "redis:\/\/127\.0\.0\.1\/x"/);
bad('empty host', conf('confhaven_redis_server redis://:6379;'),
    qr/invalid value "redis:\/\/:6379"/);
bad('relative unix socket', conf('confhaven_redis_server unix:redis.sock;'),
    qr/invalid value "unix:redis\.sock"/);
bad('unix socket with ?database=2', conf('confhaven_redis_server unix:/tmp/r.sock?database=2;'),
    qr/invalid value "unix:\/tmp\/r\.sock\?database=2"/);

# ---------------------------------------------------- other directives

bad('duplicate confhaven_redis_server',
    conf("confhaven_redis_server redis://127.0.0.1;\nconfhaven_redis_server redis://127.0.0.1:1;"),
    qr/"confhaven_redis_server" directive is duplicate/);
bad('confhaven_redis_timeout 0',
    conf("confhaven_redis_server redis://127.0.0.1;\nconfhaven_redis_timeout 0;"),
    qr/"confhaven_redis_timeout".*greater than zero/);
bad('confhaven_redis_connect_timeout 0',
    conf("confhaven_redis_server redis://127.0.0.1;\nconfhaven_redis_connect_timeout 0;"),
    qr/"confhaven_redis_connect_timeout" must be greater than zero/);
bad('confhaven_cache_ttl_search 0',
    conf("confhaven_redis_server redis://127.0.0.1;\nconfhaven_cache_ttl_search 0;"),
    qr/cache TTLs must be at least 1s/);
bad('confhaven_cache_ttl_document 500ms in a location',
    conf('confhaven_redis_server redis://127.0.0.1;', 'confhaven_cache_ttl_document 500ms;'),
    qr/cache TTLs must be at least 1s/);
bad('confhaven_redis_password_file without confhaven_redis_server',
    conf("confhaven_redis_password_file $pw;"),
    qr/"confhaven_redis_password_file" needs "confhaven_redis_server"/);
bad('confhaven_redis_password_file that does not exist',
    conf("confhaven_redis_server redis://127.0.0.1;\nconfhaven_redis_password_file "
         . $t->testdir . "/missing.password;"),
    qr/missing\.password/);
bad('confhaven_redis_server inside server{}',
    qq{confhaven_pg_server "$DSN";\n} . <<'EOF',
server {
    listen 127.0.0.1:%%PORT_1%%;
    confhaven_redis_server redis://127.0.0.1;
    location / { confhaven_rest on; }
}
EOF
    qr/"confhaven_redis_server" directive is not allowed here/);
bad('confhaven_cache maybe', conf('confhaven_cache maybe;'),
    qr/invalid value "maybe" in "confhaven_cache" directive/);
bad('confhaven_redis_timeout abc',
    conf("confhaven_redis_server redis://127.0.0.1;\nconfhaven_redis_timeout abc;"),
    qr/"confhaven_redis_timeout" directive invalid value/);
