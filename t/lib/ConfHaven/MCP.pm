package ConfHaven::MCP;

# ConfHaven::MCP — small helpers for the MCP tests on top of ConfHaven::Test.
#
#   my $m = ConfHaven::MCP->new($t, path => '/mcp');
#   my $r = $m->post({ jsonrpc => '2.0', id => 1, method => 'ping' },
#                    session => $sid, version => '2025-06-18',
#                    headers => [ ... ]);        # a ConfHaven::Test response
#   my ($sid, $r) = $m->initialize('2025-11-25');  # session id + response
#   my $r = $m->modern('tools/list', { ... params ... }, id => 7,
#                      headers => [...], no_headers => 1);   # 2026-07-28 wire
#   $m->meta          # the _meta a 2026 client sends
#   $m->b64('x')      # "=?base64?...?=" header value
#
# Event streams:
#   my @ev = $m->events($r->{body});   # [{event, id, retry, data, json}],
#                                      # comments left out
#   $m->comments($body)                # how many ": ..." comment blocks
#   my $s = $m->open_stream('GET', '/mcp', headers => [...]);   # not read
#   $m->read_until($s, sub { $_[0] =~ /x/ }, 5);  # 1 when the condition
#                # holds on the response so far (a ConfHaven::Test response,
#                # body de-chunked); 0 on timeout or EOF ($s->{eof})
#   $m->response($s)                   # the response read so far
#   close $s->{sock}

use strict;
use warnings;

use MIME::Base64 ();
use IO::Select;
use JSON::PP ();
use Time::HiRes ();

my $MODERN = '2026-07-28';

sub new {
    my ($class, $t, %o) = @_;
    return bless { t => $t, path => $o{path} // '/mcp', id => 0,
                   port => $o{port} }, $class;
}

sub t { $_[0]{t} }

sub next_id { return ++$_[0]{id} }

sub _h {
    my ($h) = @_;
    return ref $h eq 'HASH' ? %$h : @{$h // []};
}

# post(BODY, session => .., version => .., headers => [...], accept => ..)
sub post {
    my ($self, $body, %o) = @_;
    my @h = ('Accept' => $o{accept} // 'application/json, text/event-stream');
    push @h, 'Mcp-Session-Id' => $o{session} if defined $o{session};
    push @h, 'MCP-Protocol-Version' => $o{version} if defined $o{version};
    push @h, _h($o{headers});
    my %x;
    $x{port} = $self->{port} if defined $self->{port};
    $x{$_} = $o{$_} for grep { exists $o{$_} } qw(port host timeout content_type);
    return $self->{t}->post_json($o{path} // $self->{path}, $body, %x, headers => \@h);
}

sub request {
    my ($self, $method, $params, %o) = @_;
    my $msg = { jsonrpc => '2.0', id => $o{id} // $self->next_id, method => $method };
    $msg->{params} = $params if defined $params;
    return $self->post($msg, %o);
}

sub notify {
    my ($self, $method, $params, %o) = @_;
    my $msg = { jsonrpc => '2.0', method => $method };
    $msg->{params} = $params if defined $params;
    return $self->post($msg, %o);
}

# initialize(VERSION, %opts): POST initialize + notifications/initialized;
# returns (session id, initialize response)
sub initialize {
    my ($self, $version, %o) = @_;
    my $r = $self->request('initialize', {
        protocolVersion => $version // '2025-11-25',
        capabilities => {},
        clientInfo => { name => 'confhaven-test', version => '1.0' },
    }, %o);
    my $sid = $r->{headers}{'mcp-session-id'};
    my $v = $r->{json} && $r->{json}{result} ? $r->{json}{result}{protocolVersion} : undef;
    $self->notify('notifications/initialized', undef, %o, session => $sid,
                  version => $v) if defined $sid;
    return ($sid, $r);
}

sub meta {
    my ($self, %extra) = @_;
    return {
        'io.modelcontextprotocol/protocolVersion' => $MODERN,
        'io.modelcontextprotocol/clientCapabilities' => {},
        'io.modelcontextprotocol/clientInfo' => { name => 'confhaven-test', version => '1.0' },
        %extra,
    };
}

sub b64 {
    my ($self, $v) = @_;
    utf8::encode($v) if utf8::is_utf8($v);
    return '=?base64?' . MIME::Base64::encode_base64($v, '') . '?=';
}

# modern(METHOD, PARAMS, id => .., headers => [...], no_headers => 1,
#        no_meta => 1): one 2026-07-28 request with _meta and the standard
# headers derived from the body (Mcp-Method, Mcp-Name, Mcp-Param-Conference)
sub modern {
    my ($self, $method, $params, %o) = @_;
    $params = { %{$params // {}} };
    $params->{_meta} //= $self->meta unless $o{no_meta};
    my $msg = { jsonrpc => '2.0', id => $o{id} // $self->next_id,
                method => $method, params => $params };
    my @h;
    unless ($o{no_headers}) {
        push @h, 'MCP-Protocol-Version' => $MODERN, 'Mcp-Method' => $method;
        my $name = $method =~ m{^(?:tools/call|prompts/get)$} ? $params->{name}
                 : $method eq 'resources/read' ? $params->{uri} : undef;
        push @h, 'Mcp-Name' => $name if defined $name;
        my $a = $params->{arguments};
        if ($method eq 'tools/call' && ref $a eq 'HASH'
            && defined $a->{conference} && !ref $a->{conference})
        {
            my $c = $a->{conference};
            push @h, 'Mcp-Param-Conference' =>
                ($c =~ /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/ && $c !~ /^=\?base64\?/)
                ? $c : $self->b64($c);
        }
    }
    push @h, _h($o{headers});
    my %x = (accept => $o{accept} // 'application/json, text/event-stream');
    $x{$_} = $o{$_} for grep { exists $o{$_} } qw(port host timeout);
    return $self->post($msg, %x, headers => \@h);
}

sub events {
    my ($self, $body) = @_;
    my @ev;
    $body //= '';
    $body =~ s/\r\n/\n/g;
    for my $block (split /\n\n/, $body) {
        my (%e, @data);
        for my $line (split /\n/, $block) {
            next if $line =~ /^:/;
            my ($f, $v) = $line =~ /^([^:]*)(?::(.*))?$/ or next;
            $v //= '';
            $v =~ s/^ //;
            if ($f eq 'data') { push @data, $v } else { $e{$f} = $v }
        }
        next unless @data || %e;
        $e{data} = join "\n", @data;
        $e{json} = eval { JSON::PP->new->utf8->decode($e{data}) }
            if length $e{data};
        push @ev, \%e;
    }
    return @ev;
}

sub comments {
    my ($self, $body) = @_;
    my $n = () = ($body // '') =~ /^: /mg;
    return $n;
}

sub open_stream {
    my ($self, $method, $path, %o) = @_;
    return $self->{t}->http_start($method, $path // $self->{path}, %o);
}

sub response {
    my ($self, $s) = @_;
    return ConfHaven::Test::_parse_response($s->{buf}, $s->{method});
}

sub read_until {
    my ($self, $s, $cond, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 5);
    my $sel = IO::Select->new($s->{sock});
    while (1) {
        return 1 if $cond->($self->response($s));
        return 0 if $s->{eof};
        my $left = $deadline - Time::HiRes::time();
        return 0 if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($s->{sock}, $s->{buf}, 65536, length $s->{buf});
        $s->{eof} = 1 unless $n;
    }
}

1;
