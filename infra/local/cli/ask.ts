/**
 * `ask "question"` or `ask --questions FILE`: answers with citations through `POST /v1/chat` with `rag`,
 * over the bundled corpus or, with `--ingest DIR`, over your own folder ingested first. The API client
 * retries throttled calls, so a question file of any length completes under the usage plan's throttle.
 */
import { resolve } from 'node:path';
import {
  askRag,
  BUNDLED_CORPUS,
  citedFiles,
  createRagPrompt,
  describeAnswer,
  describeIngest,
  ingestFolder,
  type QuestionLine,
  readQuestions,
} from '../rag-demo.ts';
import {
  addStackOptions,
  type LocalCommand,
  parseStackOptions,
  type StackOptions,
  UsageError,
} from './command.ts';
import { apiClient, progress, withLocalRunner } from './local-runner.ts';
import { checkFolder } from './paths.ts';

/** Where the questions come from: one on the command line, or a JSONL file of `{"id", "question"}`. */
export type QuestionSource =
  | { readonly kind: 'one'; readonly question: string }
  | { readonly kind: 'file'; readonly path: string };

/** What `ask` runs. */
export interface AskRequest {
  readonly questions: QuestionSource;
  /** Absolute path of the folder to ingest and answer from; the bundled corpus when absent. */
  readonly ingest: string | undefined;
  readonly json: boolean;
  readonly stack: StackOptions;
}

/** `ask QUESTION` or `ask --questions FILE`, with `--ingest DIR` or over the bundled corpus. */
export const askCommand: LocalCommand<AskRequest> = {
  name: 'ask',
  configure(command) {
    command
      .summary('answer questions with citations (RAG)')
      .description(
        'Ingests the bundled corpus (corpus/lambda-guide), or the folder given with --ingest, through ' +
          'RagIngest, then answers QUESTION, or each line {"id", "question"} of a JSONL file, through ' +
          'POST /v1/chat with rag, citing the files the answer comes from. Throttled calls are retried ' +
          'with backoff, so a question file of any length completes. Exits 0 when every document was ' +
          'ingested, 1 otherwise.',
      )
      .argument('[question]', 'the question to answer')
      .option('--questions <file>', 'a JSONL file of {"id", "question"} lines, instead of QUESTION')
      .option('--ingest <dir>', 'answer from this folder (txt, md, html, pdf) instead of the bundled corpus')
      .option('--json', 'print each answer as one JSON object {"id", "answer", "citations"} per line');
    addStackOptions(command, 'option').addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm start -- ask "How do I avoid cold starts?"',
        '  npm start -- ask --ingest ./my-docs "How do refunds work?"',
        '  npm start -- ask --ingest ./my-docs --questions questions.jsonl --json',
      ].join('\n'),
    );
  },
  parse([question], options) {
    const file = options.questions as string | undefined;
    if ((question === undefined) === (file === undefined)) {
      throw new UsageError('ask takes exactly one of QUESTION or --questions FILE.');
    }
    const dir = options.ingest as string | undefined;
    return {
      questions:
        file !== undefined
          ? { kind: 'file', path: resolve(file) }
          : { kind: 'one', question: String(question) },
      ingest: dir === undefined ? undefined : checkFolder(dir, '--ingest'),
      json: options.json === true,
      stack: parseStackOptions(options),
    };
  },
  run: runAsk,
};

/** Ingests, then answers every question; 0 when no document failed to ingest. */
export async function runAsk(request: AskRequest): Promise<number> {
  const questions: QuestionLine[] =
    request.questions.kind === 'file'
      ? readQuestions(request.questions.path)
      : [{ id: '1', question: request.questions.question }];
  const dir = request.ingest ?? BUNDLED_CORPUS.dir;
  const exclude = request.ingest === undefined ? BUNDLED_CORPUS.exclude : [];
  return withLocalRunner(request.stack, async (stack) => {
    const client = apiClient(stack, request.stack.verbose);
    progress(`Ingesting ${dir} through RagIngest`);
    const ingest = await ingestFolder(stack, dir, exclude);
    if (!request.json) for (const line of describeIngest('ingest', ingest)) console.log(line);
    else progress(`  ingest: ${ingest.indexed}/${ingest.files} indexed, ${ingest.failed.length} failed`);
    await createRagPrompt(client);
    for (const { id, question } of questions) {
      const answer = await askRag(client, question);
      if (request.json) {
        console.log(JSON.stringify({ id, answer: answer.answer, citations: citedFiles(answer) }));
      } else {
        for (const line of describeAnswer(answer)) console.log(line);
      }
    }
    return ingest.failed.length === 0 ? 0 : 1;
  });
}
