/**
 * `ingest DIR`: a folder of documents (txt, md, html, pdf) through the synthesized RagIngest pipeline
 * into the embedded vector store, with what was indexed, unchanged or failed, and why.
 */
import { resolve } from 'node:path';
import { SUPPORTED_EXTENSIONS } from '#core/rag/parse/document.ts';
import { describeIngest, ingestFolder } from '../rag-demo.ts';
import { addStackOptions, type LocalCommand, parseStackOptions, type StackOptions } from './command.ts';
import { progress, withLocalRunner } from './local-runner.ts';
import { checkFolder } from './paths.ts';

/** What `ingest` runs. */
export interface IngestRequest {
  /** Absolute path of the folder. */
  readonly dir: string;
  readonly json: boolean;
  readonly stack: StackOptions;
}

/** `ingest DIR`. */
export const ingestCommand: LocalCommand<IngestRequest> = {
  name: 'ingest',
  configure(command) {
    command
      .summary('ingest a folder of documents through RagIngest')
      .description(
        `Uploads every ${SUPPORTED_EXTENSIONS.filter((e) => e !== 'jsonl').join(', ')} file of DIR (and ` +
          'its subfolders) under raw/rag/ of the local raw bucket, which runs the synthesized RagIngest ' +
          'pipeline for each (parse, chunk, embed, index), and reports what was indexed. Exits 0 when ' +
          'no document failed, 1 otherwise. The index lives as long as the run: add --serve to query it ' +
          'through the API, or use `ask --ingest DIR`.',
      )
      .argument('<dir>', 'the folder of documents')
      .option('--json', 'print the summary as one JSON object on stdout');
    addStackOptions(command, 'option').addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm start -- ingest ./my-docs',
        '  npm start -- ingest ./my-docs --json | jq .failed',
      ].join('\n'),
    );
  },
  parse([dir], options) {
    return {
      dir: checkFolder(String(dir), 'ingest DIR'),
      json: options.json === true,
      stack: parseStackOptions(options),
    };
  },
  run: runIngest,
};

/** Ingests the folder; 0 when no document failed. */
export async function runIngest(request: IngestRequest): Promise<number> {
  return withLocalRunner(request.stack, async (stack) => {
    progress(`Ingesting ${request.dir} through RagIngest`);
    const summary = await ingestFolder(stack, resolve(request.dir));
    if (request.json) console.log(JSON.stringify({ dir: request.dir, ...summary }));
    else {
      console.log(`\n● RAG ingestion of ${request.dir} (embedded vector store, offline embedder)`);
      for (const line of describeIngest('ingest', summary)) console.log(line);
    }
    return summary.failed.length === 0 ? 0 : 1;
  });
}
