#!/usr/bin/perl

# Database details stay in the error log: when PostgreSQL refuses (a role
# that does not exist, over the unix socket) or is stopped (TCP), the 503
# bodies of REST, /health and MCP tool calls say "database unavailable"
# with the request id ($request_id) and never libpq's text (socket path,
# host, port, user, why authentication failed); the error log has that
# text with the same request id, and so does the access log.  Errors our
# SQL functions raise for bad input keep their message.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;

my $SLUG = 'community-developer-connect-2027';
my $USER = 'leaky_role_x';

my $t = ConfHaven::Test->new()->needs_module()->worker_processes(1);
$t->private_pg();
my $t2 = ConfHaven::Test->new()->needs_module()->worker_processes(1);
$t->plan(32);

my $conf = <<'EOF';
confhaven_pg_server "%%DSN%%";
confhaven_pg_connect_timeout 2s;

log_format rid '$request_id $status $uri';

server {
    listen 127.0.0.1:%%PORT_1%%;

    access_log %%TESTDIR%%/rid.log rid;

    location /mcp {
        confhaven_mcp on;
    }

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF

$t->write_conf($conf);

# B: a role that does not exist; the unix socket is tried first (the
# workers may not enter its directory), then TCP: libpq names both
my $sock = $t->testdir . '/pg/sock';
my $port = $t->pg_port;
(my $conf2 = $conf) =~ s/%%DSN%%/host=$sock,127.0.0.1 port=$port dbname=confhaven user=$USER/;
$t2->write_conf($conf2);

$t->run();
$t2->run();

my $imp = $t->import_file($SLUG, 'sessionize-all_community-developer-connect-2027.json',
                          name => 'Community Developer Connect 2027',
                          timezone => 'Europe/London');
is($imp->{status}, 200, 'sample imported');

sub leaks {
    my ($r, @secrets) = @_;
    my $b = $r->{body} // '';
    return join ', ', grep { index($b, $_) >= 0 } @secrets;
}

sub mcp_call {
    my ($x) = @_;
    my $m = ConfHaven::MCP->new($x);
    return $m->modern('tools/call', { name => 'list_conferences', arguments => {} });
}

sub access_status {
    my ($x, $id) = @_;
    my ($line) = grep { /^\Q$id\E / } split /\n/, $x->read_file('rid.log') // '';
    return defined $line ? (split / /, $line)[1] : undef;
}

# ---------------------------------------- B: authentication refused

my @secrets = ($USER, $sock, ".s.PGSQL", "port $port", "127.0.0.1", "FATAL", "role");

my $r = $t2->get_json('/health');
is($r->{status}, 503, 'role refused: health 503');
is(leaks($r, @secrets), '', 'health body: no libpq text');
is($r->{json}{database}{message}, 'database unavailable', 'health: "database unavailable"');
my $hid = $r->{json}{request_id} // '';
like($hid, qr/^[0-9a-f]{32}$/, 'health: a request id');
ok(scalar $t2->grep_log(qr/health check failed \(request \Q$hid\E\).*\Q$USER\E/),
   'the error log has libpq\'s text with that request id');

$r = $t2->get_json('/api/conferences');
is($r->{status}, 503, 'role refused: conferences 503');
is(leaks($r, @secrets), '', 'conferences body: no libpq text');
is($r->{json}{error}{code}, 'database_unavailable', 'code database_unavailable');
my $id = $r->{json}{error}{request_id} // '';
like($id, qr/^[0-9a-f]{32}$/, 'conferences: a request id');
like($r->{json}{error}{message}, qr/^database unavailable \(request id \Q$id\E\)$/,
     'the message names the request id');
ok(scalar $t2->grep_log(qr/database unavailable \(request \Q$id\E\).*\Q$USER\E/),
   'the error log has the details under that id');
is(access_status($t2, $id), '503', 'the access log has the same id ($request_id)');

$r = $t2->get_json('/api/sessions?q=azure');
is($r->{status}, 503, 'role refused: search 503');
is(leaks($r, @secrets), '', 'search body: no libpq text');

$r = mcp_call($t2);
ok(!leaks($r, @secrets) && $r->{body} =~ /unavailable/i,
   'MCP tools/call: "unavailable", no libpq text') or diag($r->{body});

# --------------------------------------- A: our own errors stay useful

$r = $t->get_json('/api/sessions?q=azure&conference=no-such-conference-2031');
ok(($r->{status} // 0) >= 400 && ($r->{status} // 0) < 500, 'unknown conference: 4xx');
like($r->{json}{error}{message} // '', qr/no-such-conference-2031/,
     'the message from our SQL function names the conference');
ok(!exists $r->{json}{error}{request_id}, 'no request id on a client error');

$r = $t->http('POST', "/api/admin/conferences/$SLUG/import?name=X&timezone=Europe%2FLondon",
              body => '{"sessions": 7}', content_type => 'application/json',
              headers => [ Authorization => 'Bearer ' . $t->admin_key ]);
is($r->{status}, 422, 'a bad schedule: 422');
like($r->{json}{error}{message} // '', qr/sessions/, 'the import error names the field');

# --------------------------------------------- A: PostgreSQL stopped

$t->pg_stop('fast');
my @secrets_tcp = ("127.0.0.1", "port $port", 'refused', 'connection to server', 'postgres');

$r = $t->get_json('/health');
is($r->{status}, 503, 'stopped: health 503');
is(leaks($r, @secrets_tcp), '', 'health body: no libpq text');
is($r->{json}{database}{message}, 'database unavailable', 'health: "database unavailable"');

for my $try (1 .. 2) {
    # the first one meets the failed connect, the next the backoff
    $r = $t->get_json('/api/conferences');
    is(leaks($r, @secrets_tcp), '', "conferences ($try): no libpq text");
}
$id = $r->{json}{error}{request_id} // '';
ok($id ne '' && scalar $t->grep_log(qr/\(request \Q$id\E\): \S/),
   'the error log has the details under the request id');

$r = $t->get_json("/api/sessions/1");
is(leaks($r, @secrets_tcp), '', 'session: no libpq text');
$r = $t->http('POST', "/api/admin/conferences/$SLUG/import?name=X&timezone=Europe%2FLondon",
              body => '{"sessions": []}', content_type => 'application/json',
              headers => [ Authorization => 'Bearer ' . $t->admin_key ]);
is($r->{status}, 503, 'import: 503');
is(leaks($r, @secrets_tcp), '', 'import: no libpq text');
$r = mcp_call($t);
is(leaks($r, @secrets_tcp), '', 'MCP tools/call: no libpq text');

my @b = $t2->alerts;
ok(!@b, 'B: no alerts') or diag(join "\n", @b);
