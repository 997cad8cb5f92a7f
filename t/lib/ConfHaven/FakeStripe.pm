package ConfHaven::FakeStripe;

# ConfHaven::FakeStripe — t/tools/fake-stripe/fake-stripe.js (a fake Stripe
# API that sends signed webhooks, INTEGRATIONS.md §3.9) for a test file.
# Its npm package (the official `stripe`, pinned in t/tools/fake-stripe/
# package-lock.json, used to sign webhooks) is installed on demand.
#
#   plan(skip_all => ...) unless ConfHaven::FakeStripe->available;
#   my $s = ConfHaven::FakeStripe->start($t, 9);   # on %%PORT_9%%
#   $t->write_conf(... . $s->conf(grace => '2s') ...);
#   (conf() also takes success_url, cancel_url, return_url; start() takes
#   hosted_url => $s->url-to-be for the fake's own Checkout/portal pages)
#   $s->control('POST', 'checkout/cs_.../complete', {outcome => 'paid'});
#   $s->fault({path => '^/v1/checkout', body => 'api_error', times => 2});
#   $s->requests; $s->deliveries; $s->events; $s->reset
#
# The webhook goes to http://127.0.0.1:%%PORT_1%%/api/stripe/webhook.

use strict;
use warnings;

use FindBin;
use JSON::PP ();

use ConfHaven::Node;
use ConfHaven::FakeGraph;

my $JSON = JSON::PP->new->canonical->allow_nonref;

our $KEY = 'sk_test_confhaven_fake';
our $WHSEC = 'whsec_confhaven_test';
our $OLD_WHSEC = 'whsec_confhaven_old';

sub _tools { ConfHaven::Node->new(dir => 'fake-stripe',
                                  needed => ['node_modules/stripe/package.json']) }

sub available {
    return 0 unless defined ConfHaven::FakeGraph::node_binary();
    return _tools()->available;
}

sub start {
    my ($class, $t, $n, %cfg) = @_;
    my $tools = _tools();
    my $err = $tools->install;
    die "cannot install t/tools/fake-stripe: $err\n" if defined $err;
    my $node = ConfHaven::FakeGraph::node_binary() or die "no node\n";
    my $port = $t->port($n);
    my $conf = $JSON->encode({
        api_keys => [$KEY], webhook_secret => $WHSEC, old_secret => $OLD_WHSEC,
        webhook_url => 'http://127.0.0.1:' . $t->port(1) . '/api/stripe/webhook',
        %cfg });
    my $log = $t->testdir . "/fake-stripe-$n.log";
    $t->run_daemon(sub {
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec $node, $tools->path('fake-stripe.js'), $port, $conf;
    });
    $t->wait_port($n, 15) or die "the fake Stripe did not start (see $log)\n";
    $t->write_file('stripe.key', "$KEY\n", 0644);
    $t->write_file('stripe.whsec', "$WHSEC\n", 0644);
    return bless { t => $t, n => $n }, $class;
}

sub port { $_[0]{t}->port($_[0]{n}) }
sub url { 'http://127.0.0.1:' . $_[0]->port }

# the http-level directives that point the module at this fake
sub conf {
    my ($self, %o) = @_;
    my $dir = $self->{t}->testdir;
    my $url = $self->url;
    return join '', map { "    $_\n" }
        'confhaven_thread_pool ' . ($o{pool} // 'stripe') . ';',
        "confhaven_stripe_secret_key_file $dir/stripe.key;",
        "confhaven_stripe_webhook_secret_file $dir/stripe.whsec;",
        "confhaven_stripe_url $url;",
        'confhaven_stripe_price pro price_pro_monthly;',
        'confhaven_stripe_price enterprise price_enterprise_monthly;',
        'confhaven_stripe_success_url ' . ($o{success_url}
            // '"https://conf.example.com/billing/done?session_id={CHECKOUT_SESSION_ID}"') . ';',
        'confhaven_stripe_cancel_url ' . ($o{cancel_url}
            // 'https://conf.example.com/billing/cancelled') . ';',
        'confhaven_stripe_return_url ' . ($o{return_url}
            // 'https://conf.example.com/billing') . ';',
        ($o{grace} ? ("confhaven_stripe_grace_period $o{grace};") : ()),
        ($o{timeout} ? ("confhaven_stripe_timeout $o{timeout};") : ());
}

sub control {
    my ($self, $method, $what, $body) = @_;
    my $r = $self->{t}->http($method, "/_fake/$what", port => $self->{n},
                             timeout => 120,
                             content_type => 'application/json',
                             body => defined $body ? $JSON->encode($body)
                                                   : ($method eq 'POST' ? '' : undef));
    return $r->{json};
}

sub requests   { $_[0]->control('GET', 'requests') }
sub deliveries { $_[0]->control('GET', 'deliveries') }
sub events     { $_[0]->control('GET', 'events') }
sub stats      { $_[0]->control('GET', 'stats') }
sub reset      { $_[0]->control('POST', 'reset') }
sub fault      { $_[0]->control('POST', 'faults', $_[1]) }
sub config     { my ($self, %c) = @_; $self->control('POST', 'config', \%c) }

1;
