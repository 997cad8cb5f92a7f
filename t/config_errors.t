#!/usr/bin/perl

# `nginx -t` with the module: bad confhaven_* configurations fail with a
# clear [emerg] naming the problem; good ones pass.  Nothing connects to
# PostgreSQL at configuration time (host names are resolved, though), so
# the conninfo of the good configs is a literal one on 127.0.0.1; the last
# test starts a good configuration against this file's database.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->plan(45);

my $DSN = 'host=127.0.0.1 port=1 dbname=confhaven user=confhaven';
my $dir = $t->testdir;

my $good_key = $t->admin_key_file;
my $short_key = $t->write_file('short.key', "abcde\n", 0600);
my $pw_file = $t->write_file('pg.password', "secret\n", 0600);

# server { } with one location, around BODY (location-level text)
sub server {
    my ($loc, %o) = @_;
    return ($o{http} // '') . <<"EOF";
server {
    listen 127.0.0.1:%%PORT_1%%;
    location / {
        $loc
    }
    @{[ $o{more} // '' ]}
}
EOF
}

# bad(name, conf, qr/emerg text/): nginx -t fails, the output has [emerg] + text
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

good('module loaded, no confhaven directives',
     "server { listen 127.0.0.1:%%PORT_1%%; location / { return 204; } }\n");

good('minimal REST config', qq{confhaven_pg_server "$DSN";\n} . server('confhaven_rest on;'));

good('postgresql:// URL',
     qq{confhaven_pg_server "postgresql://confhaven\@localhost:5433/confhaven";\n}
     . server('confhaven_rest on;'));

good('every directive', <<"EOF" . server(<<"LOC", more => <<'MORE'));
confhaven_pg_server "$DSN";
confhaven_pg_password_file $pw_file;
confhaven_pg_pool_size 1024;
confhaven_pg_queue_size 0;
confhaven_pg_connect_timeout 2s;
confhaven_pg_statement_timeout 30s;
confhaven_pg_queue_timeout 500ms;
confhaven_pg_keepalive_timeout 1m;
error_page 400 404 413 \@json;
EOF
confhaven_rest on;
        confhaven_admin_key_file $good_key;
        confhaven_import_max_size 1k;
LOC
location @json { confhaven_json_errors on; }
    location /off { confhaven_rest off; confhaven_json_errors off; }
MORE

good('confhaven_rest off needs no database',
     server('confhaven_rest off;'));

good('confhaven_json_errors alone needs no database',
     server('confhaven_json_errors on;'));

good('admin key / import size at http level, inherited',
     qq{confhaven_pg_server "$DSN";\nconfhaven_admin_key_file $good_key;\n}
     . qq{confhaven_import_max_size 64m;\n} . server('confhaven_rest on;'));

# ------------------------------------------------------------- bad ones

bad('confhaven_rest without confhaven_pg_server',
    server('confhaven_rest on;'),
    qr/"confhaven_rest" needs a database: add "confhaven_pg_server" to the http block/);

bad('confhaven_pg_server twice',
    qq{confhaven_pg_server "$DSN";\nconfhaven_pg_server "$DSN";\n} . server('confhaven_rest on;'),
    qr/"confhaven_pg_server" directive is duplicate/);

bad('unparsable conninfo',
    qq{confhaven_pg_server "host=x port";\n} . server('confhaven_rest on;'),
    qr/invalid value "host=x port" in "confhaven_pg_server" directive: .*"port"/);

# libpq's message ends in "\n": the [emerg] line must still end with the
# file:line, not have it on a line of its own
{
    $t->write_conf(qq{confhaven_pg_server "host=x port";\n} . server('confhaven_rest on;'));
    my (undef, $out) = $t->test_config();
    like($out, qr/connection info string in \S*nginx\.conf:\d+/,
         'unparsable conninfo: libpq message and "in nginx.conf:N" on one line')
        or diag($out);
}

bad('empty conninfo',
    qq{confhaven_pg_server "";\n} . server('confhaven_rest on;'),
    qr/invalid value "" in "confhaven_pg_server" directive: expected a libpq connection string/);

bad('unresolvable host name',
    qq{confhaven_pg_server "host=no-such-host.invalid dbname=x";\n}
    . server('confhaven_rest on;'),
    qr/host "no-such-host\.invalid" in "confhaven_pg_server" could not be resolved/);

bad('confhaven_pg_pool_size 0',
    qq{confhaven_pg_server "$DSN";\nconfhaven_pg_pool_size 0;\n} . server('confhaven_rest on;'),
    qr/value must be between 1 and 1024/);

bad('confhaven_pg_pool_size abc',
    qq{confhaven_pg_server "$DSN";\nconfhaven_pg_pool_size abc;\n} . server('confhaven_rest on;'),
    qr/"confhaven_pg_pool_size" directive invalid number/);

bad('confhaven_pg_statement_timeout 0',
    qq{confhaven_pg_server "$DSN";\nconfhaven_pg_statement_timeout 0;\n}
    . server('confhaven_rest on;'),
    qr/"confhaven_pg_statement_timeout" must be greater than zero/);

bad('confhaven_pg_statement_timeout 10q',
    qq{confhaven_pg_server "$DSN";\nconfhaven_pg_statement_timeout 10q;\n}
    . server('confhaven_rest on;'),
    qr/"confhaven_pg_statement_timeout" directive invalid value/);

bad('confhaven_admin_key_file missing',
    qq{confhaven_pg_server "$DSN";\n}
    . server("confhaven_rest on; confhaven_admin_key_file $dir/no-such.key;"),
    qr/open\(\) "\Q$dir\E\/no-such\.key" failed \(2: No such file or directory\)/);

bad('confhaven_admin_key_file with a 5-character key',
    qq{confhaven_pg_server "$DSN";\n}
    . server("confhaven_rest on; confhaven_admin_key_file $short_key;"),
    qr/secret file "\Q$short_key\E" must hold at least 16 characters/);

bad('confhaven_import_max_size 10',
    qq{confhaven_pg_server "$DSN";\n}
    . server('confhaven_rest on; confhaven_import_max_size 10;'),
    qr/"confhaven_import_max_size" must be at least 1k/);

bad('confhaven_rest then confhaven_json_errors in one location',
    qq{confhaven_pg_server "$DSN";\n}
    . server('confhaven_rest on; confhaven_json_errors on;'),
    qr/"confhaven_json_errors" directive cannot be used with "confhaven_rest" in the same location/);

bad('confhaven_json_errors then confhaven_rest in one location',
    qq{confhaven_pg_server "$DSN";\n}
    . server('confhaven_json_errors on; confhaven_rest on;'),
    qr/"confhaven_rest" directive cannot be used with "confhaven_json_errors" in the same location/);

bad('confhaven_rest maybe',
    qq{confhaven_pg_server "$DSN";\n} . server('confhaven_rest maybe;'),
    qr/invalid value "maybe" in "confhaven_rest" directive, it must be "on" or "off"/);

bad('confhaven_pg_server inside a location',
    server(qq{confhaven_pg_server "$DSN"; confhaven_rest on;}),
    qr/"confhaven_pg_server" directive is not allowed here/);

bad('confhaven_rest at server level',
    qq{confhaven_pg_server "$DSN";\n}
    . "server { listen 127.0.0.1:%%PORT_1%%; confhaven_rest on; }\n",
    qr/"confhaven_rest" directive is not allowed here/);

bad('confhaven_pg_password_file missing',
    qq{confhaven_pg_server "$DSN";\nconfhaven_pg_password_file $dir/no-such.pw;\n}
    . server('confhaven_rest on;'),
    qr/open\(\) "\Q$dir\E\/no-such\.pw" failed/);

# ------------------------------------------- a good config really runs

SKIP: {
    skip('no PostgreSQL: TEST_CONFHAVEN_PG_HOST/PORT not set', 1) unless $t->has_pg;

    $t->db();
    $t->write_conf(qq{confhaven_pg_server "%%DSN%%";\nconfhaven_pg_pool_size 2;\n}
                   . server("confhaven_rest on; confhaven_admin_key_file $good_key;"));
    $t->run();
    my $r = $t->get_json('/health', port => 1);
    is($r->{status}, 200, 'good config runs: /health 200')
        or diag($r->{raw});
    $t->stop();
}
