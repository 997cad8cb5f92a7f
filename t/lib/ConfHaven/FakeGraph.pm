package ConfHaven::FakeGraph;

# ConfHaven::FakeGraph — t/tools/fake-graph/fake-graph.js (a fake Microsoft
# Graph and token endpoint, INTEGRATIONS.md §1.6) for a test file.
#
#   my $g = ConfHaven::FakeGraph->start($t, 9);   # on %%PORT_9%%
#   $t->write_conf(... . $g->conf ...);           # http-level directives
#   $g->fault({ method => 'POST', path => '/events$', status => 503,
#               headers => { 'Retry-After' => '0' }, times => 2 });
#   $g->events; $g->stats; $g->requests; $g->reset; $g->config(expires_in => 2)
#
# Node: t/tools/mcp's pinned node when installed, else `node` on PATH,
# else the pinned one installed with npm; available() is false (skip)
# without any.

use strict;
use warnings;

use FindBin;
use JSON::PP ();
use Time::HiRes qw(sleep);

use ConfHaven::Node;

my $JSON = JSON::PP->new->canonical->allow_nonref;

our $TENANT = 'contoso.onmicrosoft.com';
our $CLIENT = '535fb089-9ff3-47b6-9bfb-4f1264799865';
our $SECRET = 'fake-secret';
our $ORGANIZER = 'sessions@conf.example.com';

sub node_binary {
    my $node = ConfHaven::Node->new;
    return $node->node if -x $node->node;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/node" if -x "$d/node";
    }
    # a fresh machine: the pinned Node of the MCP tests, from npm
    return $node->node if $node->available && !defined $node->install
                          && -x $node->node;
    return undef;
}

sub available { return defined node_binary() }

sub start {
    my ($class, $t, $n, %cfg) = @_;
    my $node = node_binary() or die "no node\n";
    my $script = "$FindBin::Bin/tools/fake-graph/fake-graph.js";
    my $port = $t->port($n);
    my $conf = $JSON->encode({ tenant => $TENANT, client_id => $CLIENT,
                               client_secret => $SECRET,
                               mailboxes => [$ORGANIZER], %cfg });
    my $log = $t->testdir . "/fake-graph-$n.log";
    $t->run_daemon(sub {
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec $node, $script, $port, $conf;
    });
    $t->wait_port($n, 15) or die "the fake Graph did not start (see $log)\n";
    $t->write_file('graph.secret', "$SECRET\n", 0644);
    $t->write_file('invite.key', "test-invite-hash-key-0123456789\n", 0644);
    return bless { t => $t, n => $n }, $class;
}

sub port { $_[0]{t}->port($_[0]{n}) }
sub url { 'http://127.0.0.1:' . $_[0]->port }

# the http-level directives that point the module at this fake
sub conf {
    my ($self, %o) = @_;
    my $dir = $self->{t}->testdir;
    my $url = $self->url;
    my $pool = $o{pool} // 'graph';
    return join '', map { "$_\n" }
        "confhaven_thread_pool $pool;",
        "confhaven_graph_tenant $TENANT;",
        "confhaven_graph_client_id $CLIENT;",
        "confhaven_graph_client_secret_file $dir/graph.secret;",
        "confhaven_graph_organizer $ORGANIZER;",
        "confhaven_graph_url $url/v1.0;",
        "confhaven_graph_login_url $url;",
        "confhaven_invite_hash_key_file $dir/invite.key;";
}

sub _get {
    my ($self, $what) = @_;
    my $r = $self->{t}->http('GET', "/_fake/$what", port => $self->{n});
    return $r->{json};
}

sub _post {
    my ($self, $what, $body) = @_;
    return $self->{t}->http('POST', "/_fake/$what", port => $self->{n},
                            content_type => 'application/json',
                            body => defined $body ? $JSON->encode($body) : '');
}

sub events   { $_[0]->_get('events') }
sub requests { $_[0]->_get('requests') }
sub mail     { $_[0]->_get('mail') }
sub stats    { $_[0]->_get('stats') }
sub reset    { $_[0]->_post('reset') }
sub fault    { $_[0]->_post('faults', $_[1]) }
sub config   { my ($self, %c) = @_; $self->_post('config', \%c) }

# the POSTs of events the fake received (faults included)
sub event_posts {
    my ($self) = @_;
    return scalar grep { $_->{method} eq 'POST' && $_->{path} =~ m{/events$} }
                       @{$self->requests};
}

1;
