#!/usr/bin/perl

# Billing's configuration and the server without Stripe: `nginx -t`
# refuses half a Stripe configuration, an unreadable or wrong key file, a
# missing webhook secret, prices, URLs, thread pool or database, each with
# a clear [emerg]; without Stripe (as in `make run`) the billing endpoints
# answer 503 billing_not_configured and change nothing.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use ConfHaven::Test;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg();
my $dir = $t->testdir;

$t->write_file('stripe.key', "sk_test_confhaven\n", 0600);
$t->write_file('pk.key', "pk_test_publishable\n", 0600);
$t->write_file('stripe.whsec', "whsec_confhaven\n", 0600);

my $pool = 'confhaven_thread_pool stripe;';
my $pg = 'confhaven_pg_server "host=127.0.0.1 port=1 dbname=confhaven user=confhaven";';
my %s = (
    key => "confhaven_stripe_secret_key_file $dir/stripe.key;",
    whsec => "confhaven_stripe_webhook_secret_file $dir/stripe.whsec;",
    pro => 'confhaven_stripe_price pro price_pro;',
    ent => 'confhaven_stripe_price enterprise price_ent;',
    success => 'confhaven_stripe_success_url https://conf.example.com/ok;',
    cancel => 'confhaven_stripe_cancel_url https://conf.example.com/cancel;',
    ret => 'confhaven_stripe_return_url https://conf.example.com/billing;',
);

sub conf {
    my ($http) = @_;
    return "thread_pool stripe threads=2;\n\nhttp {\n    $http\n\n"
         . "    server {\n        listen 127.0.0.1:%%PORT_1%%;\n"
         . "        location / { confhaven_rest on; }\n    }\n}\n";
}

sub all_but {
    my (@skip) = @_;
    my %k = map { $_ => 1 } @skip;
    return join ' ', map { $s{$_} } grep { !$k{$_} } sort keys %s;
}

sub bad {
    my ($name, $http, $re) = @_;
    $t->write_conf(conf($http));
    my ($rc, $out) = $t->test_config();
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\][^\n]*$re/, "$name: says why") or diag($out);
}

sub good {
    my ($name, $http) = @_;
    $t->write_conf(conf($http));
    my ($rc, $out) = $t->test_config();
    is($rc, 0, "$name: nginx -t accepts it") or diag($out);
}

good('complete', "$pg $pool " . all_but());
good('no Stripe at all', $pg);

bad('half configured: no key', "$pg $pool " . all_but('key'),
    qr/half configured: "confhaven_stripe_secret_key_file" is missing/);
bad('no webhook secret', "$pg $pool " . all_but('whsec'),
    qr/needs "confhaven_stripe_webhook_secret_file"/);
bad('no enterprise price', "$pg $pool " . all_but('ent'),
    qr/a price for each tier sold.*enterprise is missing/);
bad('no prices', "$pg $pool " . all_but('ent', 'pro'),
    qr/a price for each tier sold/);
bad('no success URL', "$pg $pool " . all_but('success'),
    qr/needs "confhaven_stripe_success_url"/);
bad('no return URL', "$pg $pool " . all_but('ret'),
    qr/needs "confhaven_stripe_return_url"/);
bad('a URL that is not one', "$pg $pool " . all_but('cancel')
    . ' confhaven_stripe_cancel_url /cancel;',
    qr/"confhaven_stripe_cancel_url" must be an http:\/\/ or https:\/\/ URL/);
bad('an API URL with a query', "$pg $pool " . all_but()
    . ' confhaven_stripe_url http://127.0.0.1:1/?x=1;',
    qr/"confhaven_stripe_url" must be an http:\/\/ or https:\/\/ URL without a query/);
bad('no thread pool', "$pg " . all_but(), qr/Stripe calls run on a thread pool/);
bad('no database', "$pool " . all_but(), qr/needs "confhaven_pg_server"/);
bad('an unreadable key file', "$pg $pool " . all_but('key')
    . " confhaven_stripe_secret_key_file $dir/nope.key;",
    qr/nope\.key/);
bad('a publishable key', "$pg $pool " . all_but('key')
    . " confhaven_stripe_secret_key_file $dir/pk.key;",
    qr/must be a Stripe secret or restricted key/);
bad('an unknown tier', "$pg $pool " . all_but()
    . ' confhaven_stripe_price gold price_gold;',
    qr/invalid tier "gold" in "confhaven_stripe_price"/);
bad('a price twice', "$pg $pool " . all_but()
    . ' confhaven_stripe_price enterprise price_pro;',
    qr/price "price_pro" is given twice/);
bad('a timeout out of range', "$pg $pool " . all_but()
    . ' confhaven_stripe_timeout 500ms;',
    qr/"confhaven_stripe_timeout" must be from 1s to 120s/);
bad('a bad grace period', "$pg $pool " . all_but()
    . ' confhaven_stripe_grace_period soon;',
    qr/"confhaven_stripe_grace_period" directive invalid value/);

# ---- without Stripe: 503 billing_not_configured

$t->write_conf("http {\n    confhaven_pg_server \"%%DSN%%\";\n\n"
             . "    server {\n        listen 127.0.0.1:%%PORT_1%%;\n"
             . "        location / { confhaven_rest on; }\n    }\n}\n");
$t->run();

for my $path ('/api/organizer/billing/checkout', '/api/organizer/billing/portal',
              '/api/stripe/webhook')
{
    my $r = $t->http('POST', $path, body => '{"tier":"pro"}',
                     content_type => 'application/json',
                     headers => ['X-API-Key' => 'chk_000000000000_' . ('0' x 48),
                                 'Stripe-Signature' => 't=1,v1=' . ('0' x 64)]);
    is($r->{status}, 503, "POST $path without Stripe: 503");
    is($r->{json}{error}{code}, 'billing_not_configured', '... billing_not_configured');
    like($r->{json}{error}{message}, qr/billing is not configured/, '... says so');
}

is($t->psql('SELECT count(*) FROM confhaven.stripe_events'), 0,
   'nothing was recorded');

my $r = $t->http('GET', '/api/organizer',
                 headers => ['X-API-Key' => 'chk_000000000000_' . ('0' x 48)]);
is($r->{status}, 401, 'the organizer routes still answer (401 for a bad key)');
ok(exists $r->{json}{error}, '... as JSON');

$t->done_testing();
