#!/usr/bin/perl

# Hostile params (issue 7: finding 1, "types before handlers", finding 8a).
# Every params field of every method gets the wrong JSON type (a number, a
# fraction, null, an object, an array, a boolean), a string past its bound
# and invalid UTF-8 (a lone surrogate escape, a raw 0xff byte), on the three
# wires: the stateless 2026-07-28 one (valid _meta, Mcp-Method and Mcp-Name
# headers), a 2025-11-25 session on /mcp and the legacy /sse transport.
# Each gets JSON-RPC -32602 "Invalid params: <field> must be ..." (HTTP 400
# on the 2026 wire, 200 in a session, the reply on the stream for /sse),
# or -32700 for the invalid UTF-8, and no worker dies (the automatic "no
# alerts" test sees "exited on signal").  Tool arguments are checked
# against the tools' inputSchema types (isError results, as MCP asks), also
# the x-mcp-header one on the 2026 wire.  Client strings reach the error
# log escaped and truncated.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use ConfHaven::Test;
use ConfHaven::MCP;


my $JSON = JSON::PP->new->utf8->canonical;
my $HUGE = 'x' x 70000;
my $BAD = '__BAD_UTF8__';

# value name, value; "esc" and "raw" are invalid UTF-8 put in the text
my @values = (
    [num => 42], [real => 1.5], [null => undef], [obj => {}], [arr => []],
    [bool => JSON::PP::true], [huge => $HUGE], [esc => $BAD], [raw => $BAD],
);

# kinds: s (string), o (object), t (progress token: string or integer)
my $prompt_ref = { type => 'ref/prompt', name => 'plan_my_day' };

my @methods = (
    # method, wires (l: 2025-11-25 session, m: 2026-07-28, s: /sse),
    # valid params, [field path, kind, required]...
    ['initialize', 'ls',
     { protocolVersion => '2025-11-25', capabilities => {},
       clientInfo => { name => 't', version => '1' } },
     ['protocolVersion', 's', 1], ['capabilities', 'o', 0],
     ['clientInfo', 'o', 0], ['clientInfo.name', 's', 0],
     ['clientInfo.version', 's', 0]],
    ['ping', 'ls', {},
     ['_meta', 'o', 0], ['_meta.progressToken', 't', 0],
     ['_meta.traceparent', 's', 0]],
    ['server/discover', 'm', {},
     ['_meta.progressToken', 't', 0], ['_meta.traceparent', 's', 0],
     ['_meta.io.modelcontextprotocol/clientInfo', 'o', 0],
     ['_meta.io.modelcontextprotocol/logLevel', 's', 0]],
    ['tools/list', 'lms', {}, ['cursor', 's', 0]],
    ['resources/list', 'lms', {}, ['cursor', 's', 0]],
    ['resources/templates/list', 'lms', {}, ['cursor', 's', 0]],
    ['prompts/list', 'lms', {}, ['cursor', 's', 0]],
    ['tools/call', 'lms', { name => 'search_sessions', arguments => {} },
     ['name', 's', 1], ['_meta.progressToken', 't', 0]],
    ['resources/read', 'lms', { uri => 'confhaven://conferences/nope' },
     ['uri', 's', 1]],
    ['prompts/get', 'lms',
     { name => 'plan_my_day', arguments => { conference => 'nope' } },
     ['name', 's', 1], ['arguments', 'o', 0],
     ['arguments.conference', 's', 0], ['arguments.date', 's', 0],
     ['arguments.interests', 's', 0]],
    ['completion/complete', 'lms',
     { ref => $prompt_ref, argument => { name => 'level', value => 'i' } },
     ['ref', 'o', 1], ['ref.type', 's', 1], ['ref.name', 's', 0],
     ['ref.uri', 's', 0], ['argument', 'o', 1], ['argument.name', 's', 1],
     ['argument.value', 's', 1], ['context', 'o', 0],
     ['context.arguments', 'o', 0], ['context.arguments.conference', 's', 0]],
    ['logging/setLevel', 'ls', { level => 'info' }, ['level', 's', 1]],
);

my %wire_name = (l => '2025-11-25 session', m => '2026-07-28', s => 'legacy /sse');

my @cases;
for my $md (@methods) {
    my ($method, $wires, $base, @fields) = @$md;
    for my $w (split //, $wires) {
        for my $f (@fields) {
            push @cases, [$w, $method, $base, @$f];
        }
    }
}

# one test per (wire, method, field), one for each required field left out
my $nrequired = 0;
for my $md (@methods) {
    my ($method, $wires, $base, @fields) = @$md;
    $nrequired += length($wires) * grep { $_->[2] } @fields;
}

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(2)->plan(@cases + $nrequired + 18);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;
    client_max_body_size 4m;

    location /mcp {
        confhaven_mcp on;
    }

    location /sse {
        confhaven_mcp_sse on;
    }
}
EOF
$t->run();

my $m = ConfHaven::MCP->new($t);
my ($sid) = $m->initialize('2025-11-25');


# ---- building one message

sub clone { return $JSON->decode($JSON->encode($_[0])) }

# the field at PATH set to VALUE (undef = JSON null; DELETE = left out)
sub with_field {
    my ($params, $path, $value, $delete) = @_;
    my @k = $path =~ /^_meta\.(io\.modelcontextprotocol\/\w+)$/
            ? ('_meta', $1) : split /\./, $path;
    my $o = $params;
    for my $k (@k[0 .. $#k - 1]) {
        $o->{$k} = {} unless ref $o->{$k} eq 'HASH';
        $o = $o->{$k};
    }
    if ($delete) { delete $o->{$k[-1]} } else { $o->{$k[-1]} = $value }
    return $params;
}

# the JSON text; the invalid UTF-8 goes in as text
sub body_of {
    my ($msg, $vname) = @_;
    my $b = $JSON->encode($msg);
    $b =~ s/"$BAD"/"\\ud800"/g if $vname eq 'esc';
    $b =~ s/"$BAD"/"a\xffb"/g if $vname eq 'raw';
    return $b;
}

my $id = 0;

sub message {
    my ($w, $method, $base, $path, $value, $delete) = @_;
    my $params = with_field(clone($base), $path, $value, $delete);
    if ($w eq 'm') {
        my $meta = $m->meta;
        if (ref $params->{_meta} eq 'HASH') {
            $meta = { %$meta, %{$params->{_meta}} };
        }
        $params->{_meta} = $meta;
    }
    return { jsonrpc => '2.0', id => ++$id, method => $method, params => $params };
}

sub headers_of {
    my ($w, $msg) = @_;
    return ['Mcp-Session-Id' => $sid, 'MCP-Protocol-Version' => '2025-11-25']
        if $w eq 'l';
    my @h = ('MCP-Protocol-Version' => '2026-07-28', 'Mcp-Method' => $msg->{method});
    my $p = $msg->{params};
    my $name = $msg->{method} =~ m{^(?:tools/call|prompts/get)$} ? $p->{name}
             : $msg->{method} eq 'resources/read' ? $p->{uri} : undef;
    # what a client would send; a value no header can carry goes without
    if (defined $name && !ref $name && length $name < 1000 && $name ne $BAD) {
        push @h, 'Mcp-Name' => $name;
    }
    return \@h;
}


# ---- what is expected

sub expect {
    my ($kind, $required, $vname) = @_;
    return 'parse' if $vname eq 'esc' || $vname eq 'raw';
    return 'ok' if $vname eq 'null' && !$required;
    return 'ok' if $kind eq 'o' && $vname eq 'obj';
    return 'ok' if $kind eq 't' && $vname eq 'num';
    return 'long' if $kind ne 'o' && $vname eq 'huge';
    return 'type';
}

my $fives = 0;

# checks one reply (a decoded message, or an HTTP response for parse errors)
sub judge {
    my ($w, $path, $exp, $status, $msg) = @_;
    my $e = ref $msg eq 'HASH' ? $msg->{error} : undef;
    my $text = $e ? ($e->{message} // '') : '';
    my $ours = qr/^Invalid params: \Q$path\E (?:must be|is too long|is required)/;

    if (!defined $status) {
        return 'no answer (the worker died?)';
    }
    $fives++ if $status >= 500;
    if ($exp eq 'parse') {
        return ($status == 400 && $e && $e->{code} == -32700)
               ? undef : "expected 400 -32700, got $status " . ($e ? $e->{code} : 'no error');
    }
    if ($exp eq 'ok') {
        return ($status < 500 && $text !~ $ours) ? undef : "expected no type error, got $status $text";
    }
    my $want = $w eq 'm' ? 400 : 200;
    my $re = $exp eq 'long' ? qr/^Invalid params: \Q$path\E is too long/
           : $exp eq 'missing' ? qr/^Invalid params: \Q$path\E is required/
           : qr/^Invalid params: \Q$path\E must be (?:a|an) /;
    return undef if $status == $want && $e && $e->{code} == -32602 && $text =~ $re;
    return "expected $want -32602 $re, got $status "
           . ($e ? "$e->{code} $text" : 'no error: ' . substr($JSON->encode($msg // {}), 0, 200));
}


# ---- /mcp: 2026-07-28 and a 2025-11-25 session

sub post_one {
    my ($w, $msg, $vname) = @_;
    return $m->post(body_of($msg, $vname), headers => headers_of($w, $msg),
                    accept => undef);
}

for my $c (grep { $_->[0] ne 's' } @cases) {
    my ($w, $method, $base, $path, $kind, $required) = @$c;
    my @bad;
    for my $v (@values) {
        my ($vname, $value) = @$v;
        my $msg = message($w, $method, $base, $path, $value);
        my $r = post_one($w, $msg, $vname);
        my $why = judge($w, $path, expect($kind, $required, $vname), $r->{status}, $r->{json});
        push @bad, "$vname: $why" if $why;
    }
    ok(!@bad, "$wire_name{$w}: $method $path, wrong types")
        or diag(join "\n", map { substr($_, 0, 300) } @bad);
}

for my $c (grep { $_->[0] ne 's' && $_->[5] } @cases) {
    my ($w, $method, $base, $path, $kind, $required) = @$c;
    my $msg = message($w, $method, $base, $path, undef, 1);
    my $r = post_one($w, $msg, 'none');
    my $why = judge($w, $path, 'missing', $r->{status}, $r->{json});
    ok(!$why, "$wire_name{$w}: $method without $path") or diag($why);
}


# ---- finding 1 exactly: tools/call with a name that is not a string

for my $name (42, undef, { a => 1 }) {
    my $r = $m->post($JSON->encode({ jsonrpc => '2.0', id => 'f1', method => 'tools/call',
                                     params => { name => $name, arguments => {},
                                                 _meta => $m->meta } }),
                     version => '2026-07-28', headers => ['Mcp-Method' => 'tools/call']);
    is_deeply([$r->{status}, $r->{json} ? $r->{json}{error}{code} : undef], [400, -32602],
              '2026 tools/call, name ' . (defined $name ? ref $name || $name : 'null')
              . ': 400 -32602, the worker lives');
}


# ---- legacy /sse

my $s = $m->open_stream('GET', '/sse', headers => ['Accept' => 'text/event-stream']);
$m->read_until($s, sub { my @e = $m->events($_[0]{body}); @e >= 1 }, 5);
my ($ep) = $m->events($m->response($s)->{body});
my $url = $ep ? $ep->{data} : '/sse/messages?sessionId=none';
$t->post_json($url, { jsonrpc => '2.0', id => 'init', method => 'initialize',
                      params => { protocolVersion => '2024-11-05', capabilities => {},
                                  clientInfo => { name => 't', version => '1' } } });
$t->post_json($url, { jsonrpc => '2.0', method => 'notifications/initialized' });

my (%sse_expect, %sse_direct);
for my $c (grep { $_->[0] eq 's' } @cases) {
    my ($w, $method, $base, $path, $kind, $required) = @$c;
    my @h;
    for my $v (@values) {
        my ($vname, $value) = @$v;
        my $msg = message($w, $method, $base, $path, $value);
        my $exp = expect($kind, $required, $vname);
        $sse_expect{$msg->{id}} = [$c, $vname, $exp];
        push @h, [$msg->{id}, $t->http_start('POST', $url, content_type => 'application/json',
                                             body => body_of($msg, $vname))];
    }
    my @r = $t->http_finish(map { $_->[1] } @h);
    for my $i (0 .. $#h) {
        $sse_direct{$h[$i][0]} = $r[$i];
    }
}
for my $c (grep { $_->[0] eq 's' && $_->[5] } @cases) {
    my ($w, $method, $base, $path) = @$c;
    my $msg = message($w, $method, $base, $path, undef, 1);
    $sse_expect{$msg->{id}} = [$c, 'none', 'missing'];
    $sse_direct{$msg->{id}} = $t->post_json($url, body_of($msg, 'none'));
}

my @want = grep { $sse_expect{$_}[2] ne 'parse' } keys %sse_expect;
sub sse_replies {
    my %got;
    for my $e ($m->events($m->response($s)->{body})) {
        next unless ($e->{event} // '') eq 'message' && ref $e->{json} eq 'HASH';
        $got{$e->{json}{id}} = $e->{json} if defined $e->{json}{id};
    }
    return \%got;
}
$m->read_until($s, sub { my $g = sse_replies(); !grep { !$g->{$_} } @want }, 20);
my $got = sse_replies();

my %sse_bad;
for my $mid (sort { $a <=> $b } keys %sse_expect) {
    my ($c, $vname, $exp) = @{$sse_expect{$mid}};
    my $key = "$c->[1] $c->[3]" . ($exp eq 'missing' ? ' (left out)' : '');
    $sse_bad{$key} //= [];
    my $d = $sse_direct{$mid};
    my $why;
    if ($exp eq 'parse') {
        $why = judge('s', $c->[3], 'parse', $d->{status}, $d->{json});
    } elsif (($d->{status} // 0) != 202) {
        $why = 'POST answered ' . ($d->{status} // 'nothing');
    } else {
        $why = judge('s', $c->[3], $exp, $got->{$mid} ? 200 : undef, $got->{$mid});
    }
    push @{$sse_bad{$key}}, "$vname: $why" if $why;
}
for my $key (sort keys %sse_bad) {
    ok(!@{$sse_bad{$key}}, "legacy /sse: $key")
        or diag(join "\n", map { substr($_, 0, 300) } @{$sse_bad{$key}});
}
close $s->{sock};


# ---- tool arguments against the inputSchema (isError results)

sub tool_call {
    my ($w, $name, $args) = @_;
    my $msg = message($w, 'tools/call', { name => $name }, 'arguments', $args);
    my @h = @{headers_of($w, $msg)};
    if ($w eq 'm' && ref $args eq 'HASH' && exists $args->{conference}) {
        # the x-mcp-header argument travels as Mcp-Param-Conference
        my $c = $args->{conference};
        push @h, 'Mcp-Param-Conference' => ref $c ? 'x' : $c // 'null';
    }
    my $r = $m->post($JSON->encode($msg), headers => \@h, accept => undef);
    return ($r, $r->{json} ? $r->{json}{result} : undef);
}

sub tool_text { my ($res) = @_; return $res && $res->{content} ? $res->{content}[0]{text} // '' : '' }

for my $w ('l', 'm') {
    my @bad;
    for my $a (['query', [1], qr/"query" must be a string/],
               ['query', { a => 1 }, qr/"query" must be a string/],
               ['query', 1.5, qr/"query" must be a string/],
               ['query', 'x' x 501, qr/"query" is too long/],
               ['conference', 42, qr/"conference" must be a string/],
               ['conference', { a => 1 }, qr/"conference" must be a string/],
               ['conference', JSON::PP::true, qr/"conference" must be a string/],
               ['limit', 'many', qr/"limit" must be an integer/],
               ['limit', [], qr/"limit" must be an integer/],
               ['limit', 2.5, qr/"limit" must be an integer/],
               ['include_past', {}, qr/"include_past" must be a boolean/],
               ['include_past', 1, qr/"include_past" must be a boolean/])
    {
        my ($r, $res) = tool_call($w, 'search_sessions', { $a->[0] => $a->[1] });
        push @bad, "$a->[0] " . $JSON->allow_nonref->encode($a->[1]) . ': ' . ($r->{status} // 'none')
                   . ' ' . substr($r->{body} // '', 0, 200)
            unless ($r->{status} // 0) == 200 && $res && $res->{isError} && tool_text($res) =~ $a->[2];
    }
    for my $a ([1], 'x', 42) {
        my ($r, $res) = tool_call($w, 'get_session', $a);
        push @bad, "arguments " . $JSON->allow_nonref->encode($a) . ': ' . ($r->{status} // 'none')
            unless ($r->{status} // 0) == 200 && $res && $res->{isError}
                   && tool_text($res) =~ /must be a JSON object/;
    }
    ok(!@bad, "$wire_name{$w}: tool arguments of the wrong type are isError results")
        or diag(join "\n", @bad);
}

my ($r0, $res0) = tool_call('m', 'search_sessions', { conference => 'scottish-summit-2026', limit => 1 });
ok(($r0->{status} // 0) == 200 && $res0 && !$res0->{error},
   '2026: a well-typed x-mcp-header argument still passes the header check');


# ---- finding 8a: client strings in the error log

my $forged = "m\nFORGED-LINE [info] 1#1: forged \"entry\"\r\x01";
my $r = $m->post($JSON->encode({ jsonrpc => '2.0', id => 1, method => $forged }),
                 session => $sid, version => '2025-11-25');
is($r->{json}{error}{code}, -32601, 'a method with a newline: -32601');
$r = $m->post($JSON->encode({ jsonrpc => '2.0', id => 1, method => 'z' x 5000 }),
              session => $sid, version => '2025-11-25');
is($r->{json}{error}{code}, -32601, 'a 5000-byte method: -32601');
$r = $m->post($JSON->encode({ jsonrpc => '2.0', id => 2, method => "\x{e9}t\x{e9}\x7f",
                              params => { _meta => $m->meta } }),
              version => '2026-07-28', headers => ['Mcp-Method' => $m->b64(do { my $b = "\x{e9}t\x{e9}\x7f"; utf8::encode($b); $b })]);
is($r->{json}{error}{code}, -32601, '2026: a non-ASCII method: -32601');

$r = $m->request('tools/call', { name => 'search_sessions',
                                 arguments => { 'k"q' => 1 } },
                 session => $sid, version => '2025-11-25');
ok($r->{json}{result}{isError}, 'an unknown argument with a quote: isError');
$r = $m->request('tools/list', {}, session => $sid, version => '2025-11-25',
                 headers => ['Origin' => 'http://evil.example/"x']);
is($r->{status}, 403, 'a foreign Origin: 403');

my $log = $t->read_file('error.log') // '';
ok($log !~ /^FORGED-LINE/m, 'a newline in a method cannot start a log line');
like($log, qr/error: Unknown argument \\"k\\"q\\" for search_sessions/,
     'a tool error quoting an argument name is logged escaped');
like($log, qr{origin "http://evil\.example/\\"x" is not allowed}, 'a refused Origin is logged escaped');
like($log, qr/unknown method "m\\x0AFORGED-LINE \[info\] 1#1: forged \\"entry\\"\\x0D\\x01"/,
     'the method is logged escaped');
my ($zline) = $log =~ /^(.*unknown method "zzz.*)$/m;
ok(defined $zline && length($zline) < 600 && $zline =~ /z\.\.\."/,
   'a long method is logged truncated') or diag(substr($zline // 'none', 0, 300));
like($log, qr/unknown method "\\xC3\\xA9t\\xC3\\xA9\\x7F"/, 'non-ASCII bytes are logged escaped');

is($fives, 0, 'never a 5xx');
