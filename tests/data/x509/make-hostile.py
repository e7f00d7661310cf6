#!/usr/bin/env python3
# Writes the hostile and hand-built inputs of tests/data/x509 (run once, from
# that folder; the outputs are committed).  The good certificates were made
# with `openssl req -x509` (README in this folder).
import base64, os

def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + body

seq = lambda *xs: tlv(0x30, b''.join(xs))
set_ = lambda *xs: tlv(0x31, b''.join(xs))
CN, C, O, L = b'\x55\x04\x03', b'\x55\x04\x06', b'\x55\x04\x0a', b'\x55\x04\x07'

def atv(oid, tag, val):
    return seq(tlv(6, oid), tlv(tag, val))

def cert(name, version=True, tail=b''):
    alg = seq(tlv(6, b'\x2a\x86\x48\xce\x3d\x04\x03\x02'))
    parts = [tlv(0xa0, tlv(2, b'\x02'))] if version else []
    parts += [tlv(2, b'\x01'), alg, seq(set_(atv(CN, 0x0c, b'ca'))),
              seq(tlv(0x17, b'250101000000Z'), tlv(0x17, b'350101000000Z')), name,
              seq(alg, tlv(3, b'\x00\x04'))]
    return seq(seq(*parts), alg, tlv(3, b'\x00\x01')) + tail

def name(*rdns):
    return seq(*[set_(*r) for r in rdns])

def pem(der):
    b = base64.b64encode(der).decode()
    return ('-----BEGIN CERTIFICATE-----\n' +
            '\n'.join(b[i:i + 64] for i in range(0, len(b), 64)) +
            '\n-----END CERTIFICATE-----\n').encode()

good = name([atv(C, 0x13, b'XX')], [atv(O, 0x0c, b'org')], [atv(CN, 0x0c, b'name')])

def write(d, f, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f), 'wb') as fh:
        fh.write(data)

# Good, built by hand: no version field (a v1 certificate), IA5 and Visible strings.
write('good', 'v1-ia5.der', cert(name([atv(C, 0x13, b'XX')], [atv(CN, 0x16, b'a,b\\c')]), version=False))
write('good', 'v1-ia5.subject', b'C=XX,CN=a\\,b\\\\c')

h = 'hostile'
full = cert(good)
write(h, 'truncated.der', full[:-7])
write(h, 'trailing.der', full + b'\x00')
write(h, 'huge-length.der', b'\x30\x84\x7f\xff\xff\xff' + full[2:])
write(h, 'indefinite.der', b'\x30\x80' + full[2:] + b'\x00\x00')
# The outer length again with a leading zero byte: longer than DER allows.
body = full[3:] if full[1] == 0x81 else full[4:]
write(h, 'nonminimal-length.der', b'\x30\x82\x00' + bytes([len(body)]) + body
      if len(body) < 256 else b'\x30\x83\x00' + len(body).to_bytes(2, 'big') + body)
write(h, 'long-tag.der', b'\x3f\x81\x00' + full[1:])
deep = b'\x05\x00'
for _ in range(3000):
    deep = seq(deep)
write(h, 'deep-nesting.der', deep)
write(h, 'subject-is-set.der', cert(tlv(0x31, good[2:])))
write(h, 'rdn-is-sequence.der', cert(seq(seq(atv(CN, 0x0c, b'x')))))
write(h, 'non-utf8.der', cert(name([atv(CN, 0x0c, b'\xc3\x28ty')])))
write(h, 'overlong-utf8.der', cert(name([atv(CN, 0x0c, b'\xc0\xafty')])))
write(h, 'surrogate-utf8.der', cert(name([atv(CN, 0x0c, b'\xed\xa0\x80')])))
write(h, 'nonchar-utf8.der', cert(name([atv(CN, 0x0c, b'a\xef\xbf\xbe')])))
write(h, 'control-char.der', cert(name([atv(CN, 0x0c, b'a\nb')])))
write(h, 'nul-char.der', cert(name([atv(CN, 0x0c, b'a\x00b')])))
write(h, 'printable-bad-char.der', cert(name([atv(CN, 0x13, b'a@b')])))
write(h, 't61-high-byte.der', cert(name([atv(CN, 0x14, b'caf\xe9')])))
write(h, 'bmp-string.der', cert(name([atv(CN, 0x1e, b'\x00a\x00b')])))
write(h, 'empty-value.der', cert(name([atv(CN, 0x0c, b'')])))
write(h, 'empty-subject.der', cert(seq()))
write(h, 'unknown-attr.der', cert(name([atv(b'\x55\x04\x63', 0x0c, b'x')])))
write(h, 'multi-valued.der', cert(name([atv(O, 0x0c, b'org'), atv(L, 0x0c, b'city')])))
write(h, 'too-long.der', cert(name(*[[atv(CN, 0x0c, b'x' * 60)] for _ in range(5)])))
write(h, 'no-end.pem', pem(full).replace(b'-----END CERTIFICATE-----\n', b''))
write(h, 'bad-base64.pem', pem(full).replace(b'\n', b'\n*', 1))
write(h, 'pad-middle.pem', b'-----BEGIN CERTIFICATE-----\nMA==MA==\n-----END CERTIFICATE-----\n')
write(h, 'no-block.pem', b'-----BEGIN PRIVATE KEY-----\nMA==\n-----END PRIVATE KEY-----\n')
write(h, 'empty.pem', b'')
