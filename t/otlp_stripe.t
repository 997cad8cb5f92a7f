#!/usr/bin/perl

# Stripe calls in the request's trace (issue 12): a checkout sent with a
# client's traceparent/tracestate reaches the fake Stripe
# (t/tools/fake-stripe) with a traceparent of that trace whose parent-id is
# the Stripe client span the fake collector (t/tools/otlp) received, under
# the request's trace, with the client's tracestate; the billing step's
# PostgreSQL queries are spans of that trace too.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::Node;
use ConfHaven::FakeGraph;
use ConfHaven::FakeStripe;

plan(skip_all => 'node and npm are needed for the fakes')
    unless ConfHaven::FakeStripe->available;

my $otlp = ConfHaven::Node->new(dir => 'otlp', needed => [
    'node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js',
]);

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(2);

my $err = $otlp->install;
if (defined $err) {
    fail('install the fake collector (npm ci --prefix ' . $otlp->dir . ')');
    diag($err);
    done_testing();
    exit;
}

$t->plan(11);

my $node = ConfHaven::FakeGraph::node_binary();
my $clog = $t->testdir . '/fake-otlp.log';
my $cport = $t->port(8);
$t->run_daemon(sub {
    open STDOUT, '>>', $clog;
    open STDERR, '>&', \*STDOUT;
    exec $node, $otlp->path('fake-otlp.js'), $cport;
});
$t->wait_port(8, 15)
    or BAIL_OUT("the fake collector did not start: " . (`cat $clog` // ""));

my $s = ConfHaven::FakeStripe->start($t, 9);
my $stripe = $s->conf();

$t->write_conf(<<"EOF");
thread_pool stripe threads=4;

http {
    confhaven_pg_server "%%DSN%%";
    confhaven_events_buffer 0;
$stripe
    confhaven_otlp_endpoint http://127.0.0.1:%%PORT_8%%/v1/traces;

    server {
        listen 127.0.0.1:%%PORT_1%%;

        location / {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }
    }
}
EOF
$t->run();

my $admin = ['Authorization' => 'Bearer ' . $t->admin_key];

my $r = $t->http('POST', '/api/admin/organizers?name=Acme%20Events',
                 headers => $admin);
is($r->{status}, 201, 'an organizer');
my $org = $r->{json}{id};
$r = $t->http('POST', "/api/admin/organizers/$org/keys?label=billing",
              headers => $admin);
my $key = $r->{json}{key};
like($key // '', qr/^chk_/, '... and its key');

sub hex_id { join '', map { sprintf '%02x', int rand 256 } 1 .. $_[0] }

my $tid = hex_id(16);
my $pid = hex_id(8);

$r = $t->http('POST', '/api/organizer/billing/checkout',
              headers => [ 'X-API-Key' => $key,
                           traceparent => "00-$tid-$pid-01",
                           tracestate => 'acme=7' ],
              body => '{"tier":"pro"}', content_type => 'application/json',
              timeout => 60);
is($r->{status}, 200, 'checkout with a traceparent: 200')
    or diag($r->{body});

my ($q) = grep { $_->{path} eq '/v1/checkout/sessions' } @{ $s->requests };
my ($qtid, $qpid, $flags) = (($q // {})->{traceparent} // '')
                            =~ /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
is($qtid, $tid, 'Stripe: the request carries the client\'s trace id');
is($flags, '01', 'Stripe: sampled');
is(($q // {})->{tracestate}, 'acme=7',
   'Stripe: the client\'s tracestate goes along');

# the spans (exported every second)
my @spans;
my $end = time() + 15;
while (time() < $end) {
    @spans = grep { $_->{trace_id} eq $tid }
             @{ $t->http('GET', '/_fake/spans', port => 8)->{json} // [] };
    last if (grep { ($_->{attributes}{'url.full'} // '')
                    =~ m{/v1/checkout/sessions} } @spans)
            && (grep { ($_->{attributes}{'db.system'} // '') eq 'postgresql' }
                @spans)
            && (grep { $_->{kind} == 2 } @spans);
    sleep(0.25);
}

my ($server) = grep { $_->{kind} == 2 } @spans;
is($server && $server->{parent_span_id}, $pid,
   'the server span joins the client\'s trace');

my ($call) = grep { $_->{kind} == 3
                    && ($_->{attributes}{'url.full'} // '')
                       =~ m{/v1/checkout/sessions} } @spans;
ok($call, 'a client span for the Stripe call')
    or diag(explain([ map { $_->{name} } @spans ]));
is($call && $call->{span_id}, $qpid,
   'Stripe: the traceparent\'s parent-id is that client span');
is($call && $call->{attributes}{'http.response.status_code'}, 200,
   'the Stripe span: http.response.status_code');

my @db = grep { ($_->{attributes}{'db.system'} // '') eq 'postgresql' }
         @spans;
ok(scalar @db, 'the billing step\'s queries are PostgreSQL spans')
    or diag(explain([ map { $_->{name} } @spans ]));

$t->stop();
