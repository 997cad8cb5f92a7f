#!/usr/bin/perl

# GET /api/swagger.json: the OpenAPI document the module serves is JSON,
# is the one in ngx_http_confhaven_module/http/openapi.json (the generated .c is
# not stale), documents every route of the REST contract, and passes
# t/tools/validate-openapi (OpenAPI 3.1 JSON Schema + redocly lint).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use IPC::Open3;
use JSON::PP;
use Test::More;

use ConfHaven::Test;


my $root = File::Spec->catdir($FindBin::Bin, File::Spec->updir());
my $tools = File::Spec->catdir($FindBin::Bin, 'tools');

# route => [method, operationId]
my %routes = (
    '/health'                              => ['get', 'getHealth'],
    '/api/conferences'                     => ['get', 'listConferences'],
    '/api/conferences/{slug}'              => ['get', 'getConference'],
    '/api/sessions'                        => ['get', 'searchSessions'],
    '/api/sessions/{id}'                   => ['get', 'getSession'],
    '/api/swagger.json'                    => ['get', 'getOpenApi'],
    '/api/admin/conferences/{slug}/import' => ['post', 'importSchedule'],
    '/api/sessions/{id}.ics'               => ['get', 'getSessionIcs'],
    '/api/agendas'                         => ['post', 'createAgenda'],
    '/api/agendas/{token}'                 => ['get', 'getAgenda'],
    '/api/agendas/{token}.ics'             => ['get', 'getAgendaIcs'],
);

my $t = ConfHaven::Test->new()->needs_module()->needs_pg();

$t->db();
$t->write_conf(<<'EOF');
http {
    confhaven_pg_server "%%DSN%%";

    server {
        listen 127.0.0.1:%%PORT_8080%%;

        error_page 400 404 405 413 414 500 502 503 504 /.confhaven-error;

        location / {
            confhaven_rest on;
        }

        location = /.confhaven-error {
            internal;
            confhaven_json_errors on;
        }
    }
}
EOF
$t->run();


my $r = $t->http('GET', '/api/swagger.json');

is($r->{status}, 200, 'swagger.json status');
like($r->{headers}{'content-type'} // '', qr{^application/json\b}i,
     'swagger.json content type');

my $doc = $r->{json};
ok(ref $doc eq 'HASH', 'swagger.json decodes to an object')
    or diag('decode error: ' . ($r->{json_error} // 'not an object'));
$doc = {} unless ref $doc eq 'HASH';

is($doc->{openapi}, '3.1.0', 'openapi version');
is($doc->{info}{title}, 'ConferenceHaven API', 'info title');

for my $path (sort keys %routes) {
    my ($method, $id) = @{ $routes{$path} };
    is($doc->{paths}{$path}{$method}{operationId}, $id,
       "\U$method\E $path documented as $id");
}

for my $name (qw(Error Conference ConferenceDetail SessionSummary Session
                 SearchResult ConferenceList Health ImportResult))
{
    ok(exists $doc->{components}{schemas}{$name}, "schema $name");
}

SKIP: {
    my $file = File::Spec->catfile($root, 'ngx_http_confhaven_module',
                                   'http', 'openapi.json');
    skip("no $file", 1) unless -f $file;

    my $src = eval {
        open(my $fh, '<', $file) or die "$file: $!\n";
        local $/;
        JSON::PP->new->utf8->decode(scalar <$fh>);
    };
    is_deeply($doc, $src, 'served document is openapi.json'
              . ' (else run ci/gen-openapi and rebuild)')
        or diag($@ // '');
}

# the document promises 405 with the JSON error shape for a wrong method
my $p = $t->http('POST', '/api/swagger.json', body => '{}',
                 content_type => 'application/json');
is($p->{status}, 405, 'POST swagger.json is 405');
is(ref $p->{json} eq 'HASH' && ref $p->{json}{error} eq 'HASH'
   ? $p->{json}{error}{status} : undef, 405, 'POST swagger.json JSON error');

subtest 'document passes t/tools/validate-openapi' => sub {
    plan(skip_all => 'node or npm not found: cannot run the validator')
        unless have('node') && have('npm');

    plan(tests => 1);

    if (!-d File::Spec->catdir($tools, 'node_modules')) {
        my ($rc, $out) = run_cmd('npm', 'ci', '--prefix', $tools,
                                 '--no-audit', '--no-fund');
        if ($rc != 0) {
            fail('npm ci --prefix t/tools');
            diag($out);
            return;
        }
    }

    my $file = $t->write_file('swagger.json', $r->{body} // '');
    my ($rc, $out) = run_cmd(File::Spec->catfile($tools, 'validate-openapi'),
                             $file);
    is($rc, 0, 'validate-openapi exits 0') or diag($out);
};

$t->done_testing();


sub have {
    my ($cmd) = @_;

    for my $dir (File::Spec->path()) {
        return 1 if -x File::Spec->catfile($dir, $cmd);
    }

    return 0;
}


# run_cmd(cmd, args...): (exit code, stdout and stderr together)
sub run_cmd {
    my @cmd = @_;
    my ($in, $rd);

    my $pid = eval { open3($in, $rd, undef, @cmd) };
    return (-1, "cannot run $cmd[0]: $@") unless $pid;

    close($in);
    my $out = do { local $/; <$rd> } // '';
    close($rd);
    waitpid($pid, 0);

    return ($? >> 8, $out);
}
