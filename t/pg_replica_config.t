#!/usr/bin/perl

# `nginx -t` on confhaven_pg_server ... replica and
# confhaven_pg_replica_max_lag: mistakes fail with a clear [emerg]; good
# configurations pass.  Nothing connects at configuration time.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->plan(18);

my $P = 'host=127.0.0.1 port=1 dbname=confhaven user=confhaven';
my $R = 'host=127.0.0.1 port=2 dbname=confhaven user=confhaven';

sub conf {
    my ($http) = @_;
    return $http . <<'END';
server {
    listen 127.0.0.1:%%PORT_1%%;
    location / { confhaven_rest on; }
}
END
}

sub bad {
    my ($name, $http, $re) = @_;
    $t->write_conf(conf($http));
    my ($rc, $out) = $t->test_config();
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\][^\n]*$re/, "$name: emerg message") or diag($out);
}

sub good {
    my ($name, $http) = @_;
    $t->write_conf(conf($http));
    my ($rc, $out) = $t->test_config();
    is($rc, 0, "$name: nginx -t passes") or diag($out);
}

good('primary and two replicas', qq{
    confhaven_pg_server "$P";
    confhaven_pg_server "$R" replica;
    confhaven_pg_server "host=127.0.0.1 port=3 dbname=confhaven" replica;
    confhaven_pg_replica_max_lag 2s;
});

good('replica before the primary', qq{
    confhaven_pg_server "$R" replica;
    confhaven_pg_server "$P";
});

bad('unknown parameter', qq{
    confhaven_pg_server "$P";
    confhaven_pg_server "$R" standby;
}, qr/invalid parameter "standby" in "confhaven_pg_server" directive: expected "replica"/);

bad('two primaries', qq{
    confhaven_pg_server "$P";
    confhaven_pg_server "$R";
}, qr/"confhaven_pg_server" directive is duplicate: one primary server; mark read replicas with "replica"/);

bad('replica without a primary', qq{
    confhaven_pg_server "$R" replica;
}, qr/"confhaven_pg_server \.\.\. replica" needs a primary/);

bad('malformed replica conninfo', qq{
    confhaven_pg_server "$P";
    confhaven_pg_server "host=127.0.0.1 bogus=1" replica;
}, qr/invalid value "host=127.0.0.1 bogus=1" in "confhaven_pg_server" directive/);

bad('empty replica conninfo', qq{
    confhaven_pg_server "$P";
    confhaven_pg_server "" replica;
}, qr/invalid value "" in "confhaven_pg_server" directive/);

bad('max lag below 1s', qq{
    confhaven_pg_server "$P";
    confhaven_pg_server "$R" replica;
    confhaven_pg_replica_max_lag 500ms;
}, qr/"confhaven_pg_replica_max_lag" must be at least 1s/);

bad('max lag not a time', qq{
    confhaven_pg_server "$P";
    confhaven_pg_server "$R" replica;
    confhaven_pg_replica_max_lag soon;
}, qr/"confhaven_pg_replica_max_lag" directive invalid value/);

bad('seventeen replicas', qq{
    confhaven_pg_server "$P";
} . join('', map { qq{    confhaven_pg_server "host=127.0.0.1 port=$_" replica;\n} }
                 10 .. 26),
    qr/too many replicas in "confhaven_pg_server": at most 16/);
