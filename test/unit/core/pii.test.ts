import { describe, expect, it } from 'vitest';
import { emptyPiiCounts, luhnValid, PII_KINDS, type PiiKind, redactPii } from '#core/dataprep/pii.ts';
import { cpuMs } from '../../support/cpu-time.ts';

function only(kind: PiiKind, n = 1): Record<PiiKind, number> {
  return { ...emptyPiiCounts(), [kind]: n };
}

const positives: Array<[PiiKind, string, string, number?]> = [
  ['EMAIL', 'write to john.doe+tag@example.co.uk today', 'write to [EMAIL] today'],
  ['EMAIL', 'a_b@sub.domain.io.', '[EMAIL].'],
  ['PHONE', 'call (555) 123-4567 now', 'call [PHONE] now'],
  ['PHONE', 'call 555-123-4567', 'call [PHONE]'],
  ['PHONE', 'call 555.123.4567', 'call [PHONE]'],
  ['PHONE', 'call +1 555 123 4567', 'call [PHONE]'],
  ['PHONE', 'call 1-800-555-0199', 'call [PHONE]'],
  ['PHONE', 'office +44 20 7946 0958', 'office [PHONE]'],
  ['PHONE', 'paris +33 1 23 45 67 89', 'paris [PHONE]'],
  ['PHONE', 'e164 +14155552671', 'e164 [PHONE]'],
  ['CREDIT_CARD', 'visa 4111 1111 1111 1111 ok', 'visa [CREDIT_CARD] ok'],
  ['CREDIT_CARD', 'visa 4111-1111-1111-1111', 'visa [CREDIT_CARD]'],
  ['CREDIT_CARD', 'mc 5555555555554444', 'mc [CREDIT_CARD]'],
  ['CREDIT_CARD', 'amex 3782 822463 10005', 'amex [CREDIT_CARD]'],
  ['SSN', 'ssn 123-45-6789.', 'ssn [SSN].'],
  ['SSN', 'ssn 078-05-1120', 'ssn [SSN]'],
  ['IPV4', 'host 192.168.1.1.', 'host [IP_ADDRESS].'],
  ['IPV4', 'from 8.8.8.8, to 255.255.255.255', 'from [IP_ADDRESS], to [IP_ADDRESS]', 2],
  ['IPV6', 'loopback ::1 here', 'loopback [IP_ADDRESS] here'],
  ['IPV6', 'link fe80::1ff:fe23:4567:890a', 'link [IP_ADDRESS]'],
  ['IPV6', 'full 2001:0db8:85a3:0000:0000:8a2e:0370:7334', 'full [IP_ADDRESS]'],
  ['IPV6', 'mapped ::ffff:192.0.2.1', 'mapped [IP_ADDRESS]'],
  ['IPV6', 'doc 2001:db8::8a2e:370:7334.', 'doc [IP_ADDRESS].'],
  ['AWS_ACCESS_KEY', 'key AKIAIOSFODNN7EXAMPLE here', 'key [AWS_ACCESS_KEY] here'],
  ['AWS_ACCESS_KEY', 'sts ASIAY34FZKBOKMUTVV7A', 'sts [AWS_ACCESS_KEY]'],
  [
    'AWS_SECRET_KEY',
    'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'aws_secret_access_key = [AWS_SECRET_KEY]',
  ],
  ['AWS_SECRET_KEY', 'blob wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY end', 'blob [AWS_SECRET_KEY] end'],
  ['SECRET', 'openai sk-proj-abcdefghijklmnopqrstuvwxyz123456', 'openai [SECRET]'],
  ['SECRET', 'legacy sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV', 'legacy [SECRET]'],
  ['SECRET', 'gh ghp_abcdefghijklmnopqrstuvwxyz0123456789', 'gh [SECRET]'],
  ['SECRET', 'gh github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz', 'gh [SECRET]'],
  ['SECRET', 'slack xoxb-123456789012-abcdefghij', 'slack [SECRET]'],
  ['SECRET', 'google AIzaSyA1234567890abcdefghijklmnopqrstuv', 'google [SECRET]'],
  [
    'SECRET',
    'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U!',
    'jwt [SECRET]!',
  ],
  [
    'SECRET',
    'k -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK==\n-----END RSA PRIVATE KEY----- done',
    'k [SECRET] done',
  ],
  ['SECRET', 'k -----BEGIN PRIVATE KEY-----\nMIIEow truncated', 'k [SECRET]'],
  ['SECRET', 'password=hunter2 ok', 'password=[SECRET] ok'],
  ['SECRET', '{"api_key": "abc def"}', '{"api_key": "[SECRET]"}'],
  ['SECRET', "token='s3cr3t-value'", "token='[SECRET]'"],
  ['SECRET', 'API-KEY: x9f8a7b6c5', 'API-KEY: [SECRET]'],
  ['SECRET', 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123', 'Authorization: Bearer [SECRET]'],
];

const negatives: Array<[PiiKind | 'any', string]> = [
  ['EMAIL', 'npm i react@18.2.0'],
  ['EMAIL', 'import from @types/node'],
  ['EMAIL', 'user@localhost'],
  ['EMAIL', 'a @ b.com'],
  ['CREDIT_CARD', 'fails luhn 4111111111111112'],
  ['CREDIT_CARD', 'fails luhn 4111 1111 1111 1112'],
  ['CREDIT_CARD', 'timestamp 1705312345678 ms'],
  ['CREDIT_CARD', 'order id 123456789012345678'],
  ['CREDIT_CARD', 'mixed separators 4111 1111-1111 1111'],
  ['SSN', 'area 9xx 999-12-3456'],
  ['SSN', 'area 000-12-3456'],
  ['SSN', 'area 666-12-3456'],
  ['SSN', 'group 123-00-4567'],
  ['SSN', 'serial 123-45-0000'],
  ['SSN', 'part of a longer id 1123-45-6789-1'],
  ['PHONE', 'date 2024-01-15'],
  ['PHONE', 'version 1.2.3 and 10.0.19041.1'],
  ['PHONE', 'plain digit run 5551234567 is an id'],
  ['PHONE', 'id 12345678901'],
  ['PHONE', 'time 12:30:45'],
  ['PHONE', 'isbn 978-0-306-40615-7'],
  ['PHONE', 'C++ 11 and +5 points'],
  ['IPV4', 'not an ip 256.1.1.1'],
  ['IPV4', 'not an ip 10.0.0.256'],
  ['IPV4', 'version 1.2.3.4.5'],
  ['IPV4', 'leading zeros 01.02.03.04'],
  ['IPV4', 'version v1.2.3.4'],
  ['IPV6', 'time 12:30:45'],
  ['IPV6', 'c++ std::vector and Foo::bar'],
  ['IPV6', 'hex words dead::beef'],
  ['IPV6', 'mac 00:1A:2B:3C:4D:5E'],
  ['IPV6', 'ratio 1:2:3'],
  ['AWS_ACCESS_KEY', 'AKIAIOSFODNN7EXAMPL short'],
  ['AWS_ACCESS_KEY', 'AKIAIOSFODNN7EXAMPLEX too long'],
  ['AWS_ACCESS_KEY', 'akiaiosfodnn7example lower'],
  ['AWS_SECRET_KEY', 'git sha 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12'],
  ['AWS_SECRET_KEY', 'path usr/local/share/python3/sitepackages'],
  ['AWS_SECRET_KEY', 'word ABCDEFGHIJABCDEFGHIJabcdefghijabcdefghi1'],
  ['AWS_SECRET_KEY', 'longer base64 wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYwJalrXUtnFEMI/K7MDENG=='],
  ['SECRET', 'sklearn and sk-learn are libraries'],
  ['SECRET', 'max_tokens=512 and num_tokens: 7'],
  ['SECRET', 'the eos token: </s>'],
  ['SECRET', 'token: 50256 is the id'],
  ['SECRET', 'password: required'],
  ['SECRET', 'ghp_short'],
  ['SECRET', 'eyJ alone'],
  ['SECRET', 'password=[SECRET]'],
  ['any', 'A perfectly ordinary sentence, with punctuation; and numbers like 42, 3.14 and 2024.'],
  ['any', 'Call me at noon: 12:00. Score 10-7, page 12-15, room 101.'],
];

describe('redactPii', () => {
  it.each(positives)('redacts %s in %j', (kind, input, expected, n) => {
    const { text, counts } = redactPii(input);
    expect(text).toBe(expected);
    expect(counts).toEqual(only(kind, n));
  });

  it.each(negatives)('leaves a %s near miss alone: %j', (_kind, input) => {
    const { text, counts } = redactPii(input);
    expect(text).toBe(input);
    expect(counts).toEqual(emptyPiiCounts());
  });

  it('redacts several kinds in one text and counts each', () => {
    const input =
      'Mail ann@x.org or bob@y.com, call (555) 123-4567, card 4242 4242 4242 4242, ssn 123-45-6789, ' +
      'ips 10.0.0.1 and ::1, key AKIAIOSFODNN7EXAMPLE, password=hunter22';
    const { text, counts } = redactPii(input);
    expect(text).toBe(
      'Mail [EMAIL] or [EMAIL], call [PHONE], card [CREDIT_CARD], ssn [SSN], ' +
        'ips [IP_ADDRESS] and [IP_ADDRESS], key [AWS_ACCESS_KEY], password=[SECRET]',
    );
    expect(counts).toEqual({
      ...emptyPiiCounts(),
      EMAIL: 2,
      PHONE: 1,
      CREDIT_CARD: 1,
      SSN: 1,
      IPV4: 1,
      IPV6: 1,
      AWS_ACCESS_KEY: 1,
      SECRET: 1,
    });
  });

  it('accumulates into the counts object it is given and returns that object', () => {
    const counts = emptyPiiCounts();
    const first = redactPii('a@b.co', counts);
    redactPii('c@d.co and 1.2.3.4', counts);
    expect(first.counts).toBe(counts);
    expect(counts.EMAIL).toBe(2);
    expect(counts.IPV4).toBe(1);
  });

  it('is stable: redacting redacted text changes nothing', () => {
    for (const [, input] of positives) {
      const once = redactPii(input).text;
      const again = redactPii(once);
      expect(again.text).toBe(once);
      expect(again.counts).toEqual(emptyPiiCounts());
    }
  });

  it('stays linear on adversarial input', () => {
    const inputs = [
      `${'a'.repeat(200_000)}@`,
      '1'.repeat(200_000),
      `${'1-'.repeat(100_000)}`,
      `${'a:'.repeat(100_000)}`,
      `${'1.'.repeat(100_000)}`,
      `+${'1 '.repeat(100_000)}`,
      `password=${'x'.repeat(200_000)}`,
    ];
    const cpu = cpuMs(() => {
      for (const input of inputs) redactPii(input);
    });
    expect(cpu).toBeLessThan(2000);
  });

  it('lists every kind', () => {
    expect(Object.keys(emptyPiiCounts()).sort()).toEqual([...PII_KINDS].sort());
  });
});

describe('luhnValid', () => {
  it('checks the Luhn checksum', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111 1111 1111 1111')).toBe(true);
    expect(luhnValid('79927398713')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('79927398710')).toBe(false);
    expect(luhnValid('')).toBe(false);
  });
});
