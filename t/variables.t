#!/usr/bin/perl

# $confhaven_route, $confhaven_result_count, $confhaven_db_time and
# $confhaven_error in a log_format: what the access log says for an import,
# a search, a session lookup, the conference list, health, a 400 caught by
# the module, a 400 raised by the database, a 404 from the database and a
# 404 for an unknown route.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(47);

$t->db();
$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

log_format confhaven '$request_uri|$status|$confhaven_route|'
                     '$confhaven_result_count|$confhaven_db_time|'
                     '$confhaven_error';

server {
    listen 127.0.0.1:%%PORT_1%%;

    access_log %%TESTDIR%%/vars.log confhaven;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();


my @req;    # [name, uri, status, route, count, db_time, error] expected

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'import') or diag(substr($r->{body} // '', 0, 400));
push @req, ['import', qr{^/api/admin/conferences/scottish-summit-2026/import\?},
            200, 'import', '61', 'ms', '-'];

$r = $t->get_json('/api/sessions?q=copilot&conference=scottish-summit-2026'
                  . '&include_past=true&limit=5');
is($r->{status}, 200, 'search');
push @req, ['search', '/api/sessions?q=copilot&conference=scottish-summit-2026'
            . '&include_past=true&limit=5', 200, 'search', '5', 'ms', '-'];

my $id = ((ref $r->{json} eq 'HASH' ? $r->{json}{sessions} : undef) // [{}])->[0]{id}
         // 1;
$r = $t->get_json("/api/sessions/$id");
is($r->{status}, 200, 'session lookup');
push @req, ['session', "/api/sessions/$id", 200, 'session', '1', 'ms', '-'];

$r = $t->get_json('/api/conferences?include_past=true');
is($r->{status}, 200, 'conference list');
push @req, ['conferences', '/api/conferences?include_past=true', 200,
            'conferences', '1', 'ms', '-'];

$r = $t->get_json('/health');
is($r->{status}, 200, 'health');
push @req, ['health', '/health', 200, 'health', '-', 'ms', '-'];

$r = $t->get_json('/api/sessions?limit=0');
is($r->{status}, 400, '400 from the module');
push @req, ['module 400', '/api/sessions?limit=0', 400, 'search', '-', '-',
            'bad_parameter'];

$r = $t->get_json('/api/sessions?level=Expertish');
is($r->{status}, 400, '400 from the database');
push @req, ['database 400', '/api/sessions?level=Expertish', 400, 'search', '-',
            'ms', 'bad_parameter'];

$r = $t->get_json('/api/sessions/999999999');
is($r->{status}, 404, '404 from the database');
push @req, ['database 404', '/api/sessions/999999999', 404, 'session', '-',
            'ms', 'not_found'];

$r = $t->get_json('/api/nope');
is($r->{status}, 404, '404 unknown route');
push @req, ['route 404', '/api/nope', 404, '-', '-', '-', 'not_found'];


# the log line is written when the request ends; wait until all are there
my @lines;
for (1 .. 100) {
    @lines = split /\n/, ($t->read_file('vars.log') // '');
    last if @lines >= @req;
    sleep 0.05;
}
is(scalar @lines, scalar @req, 'one access log line per request');

for my $i (0 .. $#req) {
    my ($name, $uri, $status, $route, $count, $ms, $error) = @{ $req[$i] };
    my @f = split /\|/, ($lines[$i] // ''), -1;

    if (ref $uri) {
        like($f[0] // '', $uri, "$name: request_uri");
    } else {
        is($f[0], $uri, "$name: request_uri");
    }
    is("$f[1]|$f[2]", "$status|$route", "$name: \$confhaven_route");
    is($f[3], $count, "$name: \$confhaven_result_count");
    if ($ms eq 'ms') {
        like($f[4] // '', qr/^\d+$/, "$name: \$confhaven_db_time in ms");
    } else {
        is($f[4], $ms, "$name: no \$confhaven_db_time without a query");
    }
}

# the error variable, by itself, for all requests at once
is_deeply([map { (split /\|/, $_, -1)[5] } @lines],
          [map { $_->[6] } @req], '$confhaven_error per request');
